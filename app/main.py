"""Assembles the FastAPI application: routers, middleware, error handlers and the model/store lifecycle.

Middleware, outermost first: request id + access log (and JSON 500s) → CORS → Prometheus → body size limit → rate
limit → routes. So every request is logged and counted, including the ones refused for size or rate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator import metrics as http_metrics
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded

from app.api.errors import install_error_handlers, problem
from app.api.middleware import (
    REQUEST_ID_HEADER,
    BodySizeLimitMiddleware,
    RateLimitMiddleware,
    RequestContextMiddleware,
    configure_logging,
)
from app.api.routes import admin, health, metrics, page, search
from app.query.synonyms import Synonyms
from app.search import Searcher
from app.services.access import HEADER as API_KEY_HEADER
from app.services.access import KeyRing, rate_limit_key
from app.services.reindexer import Reindexer
from core.settings import Settings, get_settings
from model.encoder import Encoder

# Probes and scrapes are never rate limited: an orchestrator must always be able to ask.
_UNLIMITED = (health.healthz, health.readyz, metrics.metrics)


def _install_rate_limit(app: FastAPI, settings: Settings) -> None:
    """slowapi with one budget per API key (else per client IP) across all limited routes."""
    limiter = Limiter(
        key_func=rate_limit_key,
        application_limits=[settings.rate_limit],
        headers_enabled=True,
        storage_uri=settings.rate_limit_storage,
        key_prefix="lira",
    )
    app.state.limiter = limiter

    async def _too_many(request: Request, exc: RateLimitExceeded) -> JSONResponse:
        response = problem(
            429,
            "rate_limited",
            f"rate limit of {exc.detail} exceeded for this API key or client: retry after the "
            "number of seconds in Retry-After, or ask for a higher LIRA_RATE_LIMIT",
        )
        response = request.app.state.limiter._inject_headers(response, request.state.view_rate_limit)
        response.headers.setdefault("Retry-After", "1")
        return response

    app.add_exception_handler(RateLimitExceeded, _too_many)  # type: ignore[arg-type]
    app.add_middleware(RateLimitMiddleware, limiter=limiter, exempt=_UNLIMITED)


def _instrument(app: FastAPI, registry: CollectorRegistry) -> None:
    """Request counts and latency histograms per route template, method and exact status (unknown paths are
    grouped as handler "none", so scanners cannot blow up the label cardinality)."""
    instrumentator = Instrumentator(should_group_status_codes=False, excluded_handlers=["/metrics"], registry=registry)
    instrumentator.add(
        http_metrics.requests(registry=registry),
        http_metrics.latency(registry=registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)),
    )
    instrumentator.instrument(app)


def _document_access(app: FastAPI, keyring: KeyRing) -> None:
    """The OpenAPI schema says an API key is needed exactly where this configuration needs one: always for admin
    operations, for search/encode/info only when keys are configured and required."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = generate()
            for path, operations in schema.get("paths", {}).items():
                for operation in operations.values():
                    if not path.startswith("/v1/admin/") and not keyring.search_needs_key:
                        operation.pop("security", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    settings: Settings | None = None,
    searcher: Searcher | None = None,
    encoder: Encoder | None = None,
    synonyms: Synonyms | None = None,
) -> FastAPI:
    """Build the app; pass ``searcher`` to reuse an already loaded model and store (tests, benchmarks), or ``encoder``
    to reuse a loaded model only (``python -m app`` loads it first, so a bad checkpoint fails before serving), and
    ``synonyms`` the rules it read already (likewise for a bad synonyms file)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = searcher is None
        if owned:
            from core.store import open_store
            from model.loader import load_encoder

            model = encoder or load_encoder(settings)
            store = open_store(settings, read_only=True)
            app.state.searcher = Searcher.build(settings, model, store, synonyms)
        else:
            app.state.searcher = searcher
        yield
        if owned:
            app.state.searcher.queries.close()
            app.state.searcher.store.close()

    app = FastAPI(
        title="LiRA Search",
        version="0.1.0",
        description="Multilingual product search for Southeast and South Asian e-commerce.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    if searcher is not None:  # usable without the lifespan too (ASGI test transports that do not run it)
        app.state.searcher = searcher
    app.state.keyring = KeyRing(settings)
    app.state.reindexer = Reindexer(settings)
    app.state.metrics_registry = CollectorRegistry(auto_describe=True)
    install_error_handlers(app)
    _document_access(app, app.state.keyring)
    app.include_router(search.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(admin.router)
    app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=page.STATIC_DIR), name="static")

    # add_middleware wraps what is there: the first added runs innermost.
    if settings.rate_limit:
        _install_rate_limit(app, settings)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    _instrument(app, app.state.metrics_registry)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", API_KEY_HEADER, REQUEST_ID_HEADER],
            expose_headers=[REQUEST_ID_HEADER, "Retry-After"],
            max_age=600,
        )
    if settings.access_log:
        configure_logging()
    app.add_middleware(RequestContextMiddleware, log_requests=settings.access_log)
    return app
