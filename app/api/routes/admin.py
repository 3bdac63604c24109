"""Admin operations (admin key only): start a reindex, see how the last one went, read or replace the synonyms."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import AdminAccess, ReindexerDep, SearcherDep, SettingsDep
from app.api.errors import ApiError
from app.api.schemas import Problem, ReindexRequest, ReindexStarted, ReindexStatus, SynonymsInfo, SynonymsUpdate
from app.query.synonyms import Synonyms, SynonymsError
from app.search import IndexNotReady
from core.settings import Settings
from core.store.base import StoreUnavailable
from indexer.control import ReindexBusy

router = APIRouter(prefix="/v1/admin", tags=["admin"])

_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Missing or unknown API key"},
    403: {"model": Problem, "description": "Not an admin key, or admin endpoints disabled"},
}


@router.post(
    "/reindex",
    status_code=202,
    response_model=ReindexStarted,
    responses={
        **_AUTH_ERRORS,
        400: {"model": Problem, "description": "Body is not readable"},
        409: {"model": Problem, "description": "A reindex is already running"},
        413: {"model": Problem, "description": "Request body too large"},
    },
)
async def start_reindex(_: AdminAccess, reindexer: ReindexerDep, req: ReindexRequest | None = None) -> JSONResponse:
    """Start ``python -m indexer reindex`` (incremental unless ``full``) in the background; poll the GET for progress.

    The serving index keeps answering throughout and switches atomically when the new version is complete."""
    full = bool(req and req.full)
    try:
        started = await run_in_threadpool(reindexer.start, full=full)
    except ReindexBusy as exc:
        raise ApiError(409, "reindex_running", str(exc)) from exc
    body = ReindexStarted(**started, status_url="/v1/admin/reindex")
    return JSONResponse(body.model_dump(), status_code=202)


@router.get("/reindex", response_model=ReindexStatus, responses=_AUTH_ERRORS)
async def reindex_status(_: AdminAccess, reindexer: ReindexerDep, searcher: SearcherDep) -> ReindexStatus:
    """The last or current reindex (state, progress, summary or error) and the version serving now."""
    status = await run_in_threadpool(reindexer.status)
    try:
        serving = str(await searcher.serving_version())
    except (StoreUnavailable, IndexNotReady):
        serving = None
    return ReindexStatus(**status, serving_version=serving)


def _synonyms_info(synonyms: Synonyms, settings: Settings) -> SynonymsInfo:
    path = str(settings.synonyms_path) if settings.synonyms_path else None
    return SynonymsInfo(path=path, rules=synonyms.counts(), text=synonyms.source)


@router.get("/synonyms", response_model=SynonymsInfo, responses=_AUTH_ERRORS)
async def get_synonyms(_: AdminAccess, searcher: SearcherDep, settings: SettingsDep) -> SynonymsInfo:
    """The synonym rules searches use now, as written, with their count per language section."""
    return _synonyms_info(searcher.synonyms, settings)


@router.put(
    "/synonyms",
    response_model=SynonymsInfo,
    responses={
        **_AUTH_ERRORS,
        400: {"model": Problem, "description": "Body is not readable"},
        409: {"model": Problem, "description": "LIRA_SYNONYMS_PATH is not set"},
        413: {"model": Problem, "description": "Request body too large"},
        422: {"model": Problem, "description": "A rule cannot be read (the message names the line)"},
    },
)
async def put_synonyms(
    _: AdminAccess, body: SynonymsUpdate, searcher: SearcherDep, settings: SettingsDep
) -> SynonymsInfo:
    """Replace every rule. The file is written (atomically, fsynced) before the answer, so acknowledged rules survive
    a restart; the next search uses them. A bad rule changes nothing."""
    if settings.synonyms_path is None:
        raise ApiError(409, "synonyms_path_unset", "set LIRA_SYNONYMS_PATH to keep synonym rules")
    try:
        synonyms = Synonyms.parse(body.text)
    except SynonymsError as exc:
        raise ApiError(422, "bad_synonyms", str(exc)) from exc
    await run_in_threadpool(synonyms.save, settings.synonyms_path)
    searcher.synonyms = synonyms
    return _synonyms_info(synonyms, settings)
