from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import SearcherDep
from app.schemas import EncodeRequest, EncodeResponse, Problem, SearchRequest, SearchResponse

router = APIRouter(prefix="/v1", tags=["search"])

_ERRORS = {422: {"model": Problem, "description": "Invalid request"},
           503: {"model": Problem, "description": "Store or index unavailable"}}


@router.post("/search", response_model=SearchResponse, responses=_ERRORS)
async def search(req: SearchRequest, searcher: SearcherDep) -> SearchResponse:
    """Semantic product search across the seven markets' catalogues and English."""
    return await searcher.search(req)


@router.post("/encode", response_model=EncodeResponse, responses={422: _ERRORS[422]})
async def encode(req: EncodeRequest, searcher: SearcherDep) -> EncodeResponse:
    """Embed 1–64 texts with the serving model (L2-normalised)."""
    from starlette.concurrency import run_in_threadpool

    vectors = await run_in_threadpool(searcher.encoder.encode, req.texts, req.kind)
    return EncodeResponse(vectors=vectors.tolist(), dim=searcher.encoder.dim, model=searcher.encoder.model_id)
