"""Pure ASGI middleware: request ids and JSON access logs, the request body size limit, rate limiting.

Pure ASGI rather than ``BaseHTTPMiddleware``: no extra task per request, and streamed bodies stay streamed until a
limit says otherwise.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from slowapi import Limiter
from slowapi.middleware import async_check_limits
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.services.access import caller_from_scope

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}")
access_log = logging.getLogger("lira.access")
error_log = logging.getLogger("lira.error")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: what log shippers parse without a grok pattern."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging() -> None:
    """JSON lines on stdout (where container runtimes collect logs) for the ``lira`` loggers; idempotent."""
    logger = logging.getLogger("lira")
    if not any(getattr(h, "lira_json", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        handler.lira_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def request_id_of(scope: Scope) -> str | None:
    return scope.get("state", {}).get("request_id")


class RequestContextMiddleware:
    """Outermost: give every request an id (``X-Request-ID`` if sane, else a new one), echo it, log one line, and
    turn an unhandled exception into a JSON 500 that names the id instead of a bare traceback."""

    def __init__(self, app: ASGIApp, *, log_requests: bool = True) -> None:
        self.app = app
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = Headers(scope=scope).get(REQUEST_ID_HEADER)
        request_id = sent if sent and _SANE_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = False
        t0 = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            error_log.exception(
                "unhandled error", extra={"fields": {"request_id": request_id, "path": scope.get("path")}}
            )
            if started:
                raise  # too late for an error body: the server closes the connection
            response = JSONResponse(
                {
                    "error": "internal_error",
                    "message": f"unexpected server error; report request id {request_id} to the operators",
                },
                status_code=500,
            )
            await response(scope, receive, send_with_id)
        finally:
            if self.log_requests:
                self._log(scope, status, time.perf_counter() - t0, request_id)

    @staticmethod
    def _log(scope: Scope, status: int, seconds: float, request_id: str) -> None:
        caller = caller_from_scope(scope)
        client = scope.get("client")
        access_log.info(
            "request",
            extra={
                "fields": {
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                    "request_id": request_id,
                    "client": client[0] if client else None,
                    "api_key_id": caller.key_id if caller else None,
                }
            },
        )


class BodySizeLimitMiddleware:
    """413 for bodies over ``max_bytes``, decided before anything parses them.

    A declared ``Content-Length`` over the limit is refused without reading; otherwise (chunked uploads, or a
    length that lies) the body is read up to the limit and refused as soon as it passes it, then replayed to the
    app. At most ``max_bytes`` are ever held per request."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self, size: int | None) -> JSONResponse:
        told = f"is {size} bytes" if size is not None else f"is over {self.max_bytes} bytes"
        return JSONResponse(
            {
                "error": "body_too_large",
                "message": f"the request body {told}; the limit is {self.max_bytes} bytes (LIRA_MAX_BODY_BYTES): "
                "send fewer or shorter texts",
            },
            status_code=413,
            headers={"Connection": "close"},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                response = JSONResponse(
                    {"error": "bad_request", "message": "Content-Length must be a number"}, status_code=400
                )
                await response(scope, receive, send)
                return
            if int(length) > self.max_bytes:
                await self._too_large(int(length))(scope, receive, send)
                return
        elif "chunked" not in headers.get("transfer-encoding", "").lower():
            await self.app(scope, receive, send)  # no body at all
            return

        messages: list[Message] = []
        total = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            total += len(message.get("body", b""))
            if total > self.max_bytes:
                await self._too_large(None if length is None else total)(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def route_endpoint(routes: list, scope: Scope) -> Callable | None:
    """The endpoint that will answer ``scope``. Looks inside included routers: FastAPI ≥ 0.116 keeps each
    ``include_router`` as one route, which slowapi's own middleware cannot see into (it would exempt them all)."""
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        for candidate in contexts() if callable(contexts) else (route,):
            match, _ = candidate.matches(scope)
            if match == Match.FULL:
                return getattr(candidate, "endpoint", None)
    return None


def route_methods(routes: list, scope: Scope) -> set[str]:
    """Every method some route accepts at this path (for a truthful ``Allow`` header on 405)."""
    probe = {**scope, "method": "\x00"}  # matches no route's methods: path matches come back PARTIAL
    methods: set[str] = set()
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        for candidate in contexts() if callable(contexts) else (route,):
            match, _ = candidate.matches(probe)
            if match != Match.NONE:
                methods |= set(getattr(candidate, "methods", None) or ())
    return methods


class RateLimitMiddleware:
    """slowapi's ``SlowAPIASGIMiddleware`` with endpoint lookup that works on today's FastAPI: the limiter (its
    limits, key function, storage, 429 handler and X-RateLimit/Retry-After headers) is slowapi's, unchanged."""

    def __init__(self, app: ASGIApp, *, limiter: Limiter, exempt: tuple[Callable, ...] = ()) -> None:
        self.app = app
        self.limiter = limiter
        self.exempt = set(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limiter.enabled:
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        endpoint = route_endpoint(app.routes, scope)
        if endpoint is None or endpoint in self.exempt:  # unknown paths 404 anyway; static files and probes are free
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        refusal, inject_headers = await async_check_limits(self.limiter, request, endpoint, app)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if not inject_headers:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.limiter._inject_asgi_headers(MutableHeaders(scope=message), request.state.view_rate_limit)
            await send(message)

        await self.app(scope, receive, send_with_headers)
