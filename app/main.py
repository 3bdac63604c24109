"""Assembles the FastAPI application: routers, error handlers and the model/store lifecycle."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.api.routes import health, search
from app.services.batcher import QueryEncoder
from app.services.searcher import IndexNotReady, Searcher
from core.settings import Settings, get_settings
from core.store.base import StoreUnavailable


def _problem(status: int, error: str, message: str, details: list | None = None) -> JSONResponse:
    body = {"error": error, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status)


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
        return _problem(422, "invalid_request", message, details)

    @app.exception_handler(StoreUnavailable)
    async def _store_down(_: Request, exc: StoreUnavailable) -> JSONResponse:
        return _problem(503, "store_unavailable", f"search is temporarily unavailable: {exc}; retry shortly")

    @app.exception_handler(IndexNotReady)
    async def _no_index(_: Request, exc: IndexNotReady) -> JSONResponse:
        return _problem(503, "index_not_ready", str(exc))


def create_app(settings: Settings | None = None, searcher: Searcher | None = None) -> FastAPI:
    """Build the app; pass ``searcher`` to reuse an already loaded model and store (tests, benchmarks)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        owned = searcher is None
        if owned:
            from core.store import open_store
            from model.loader import load_encoder

            encoder = load_encoder(settings)
            store = open_store(settings, read_only=True)
            app.state.searcher = Searcher(settings, encoder, store, QueryEncoder(encoder))
        else:
            app.state.searcher = searcher
        app.state.settings = settings
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
    install_error_handlers(app)
    app.include_router(search.router)
    app.include_router(health.router)
    return app
