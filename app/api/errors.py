"""Every error is a JSON ``{error, message}`` body that says what to fix; never a bare traceback or ``{detail}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.middleware import route_methods
from app.search import IndexNotReady
from core.store.base import StoreUnavailable

_HTTP_ERRORS = {
    400: ("bad_request", "the request could not be read"),
    404: ("not_found", ""),
    405: ("method_not_allowed", ""),
    406: ("not_acceptable", "this endpoint answers application/json"),
    415: ("unsupported_media_type", "send the body as application/json"),
}


class ApiError(Exception):
    """An error a route or dependency raises on purpose, with its status, code and advice."""

    def __init__(self, status: int, error: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers


def problem(
    status: int, error: str, message: str, details: list | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"error": error, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> tuple[str, list[dict]]:
    details, parts = [], []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"] if x != "body") or "body"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
        details.append({"field": loc, "message": msg})
    return "; ".join(parts), details


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, details = _validation_message(exc)
        return problem(422, "invalid_request", message, details)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return problem(exc.status, exc.error, exc.message, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error, advice = _HTTP_ERRORS.get(exc.status_code, ("http_error", str(exc.detail)))
        if exc.status_code == 404:
            message = f"no such endpoint {request.url.path}: see /docs for the API"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}: see /docs for its methods"
            allowed = route_methods(request.app.routes, request.scope)
            if allowed:  # Starlette names only the first route's methods; a path can have several routes
                return problem(405, error, message, headers={"Allow": ", ".join(sorted(allowed))})
        else:
            message = advice if advice == exc.detail else f"{advice} ({exc.detail})"
        return problem(exc.status_code, error, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(StoreUnavailable)
    async def _store_down(_: Request, exc: StoreUnavailable) -> JSONResponse:
        return problem(
            503,
            "store_unavailable",
            f"search is temporarily unavailable: {exc}; retry shortly",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(IndexNotReady)
    async def _no_index(_: Request, exc: IndexNotReady) -> JSONResponse:
        return problem(503, "index_not_ready", str(exc), headers={"Retry-After": "30"})
