from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import SearchAccess, SearcherDep, SettingsDep
from app.api.schemas import InfoResponse, Problem, ReadyResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", response_model=ReadyResponse, responses={503: {"model": ReadyResponse}})
async def readyz(searcher: SearcherDep) -> JSONResponse:
    """Readiness: model loaded, store reachable, index non-empty and built by this model."""
    reasons, version = await searcher.readiness()
    body = ReadyResponse(ready=not reasons, reasons=reasons, index_version=str(version) if version else None)
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


@router.get(
    "/v1/info",
    response_model=InfoResponse,
    responses={
        401: {"model": Problem, "description": "Missing or unknown API key (when keys are required)"},
        429: {"model": Problem, "description": "Rate limit exceeded (see Retry-After)"},
    },
)
async def info(searcher: SearcherDep, settings: SettingsDep, _: SearchAccess) -> InfoResponse:
    """Model, serving index version, documents per language, the synonym rules in use and the serving version's
    catalogue vocabulary (terms per language, pairs)."""
    reasons, version = await searcher.readiness()
    counts = await searcher.counts() if version else {}
    return InfoResponse(
        model=searcher.encoder.model_id,
        model_fingerprint=searcher.encoder.fingerprint,
        dim=searcher.encoder.dim,
        query_encoding=getattr(searcher.encoder, "query_signature", "") or "exact",
        store=settings.resolved_store(),
        index_version=str(version) if version else None,
        documents=sum(counts.values()),
        documents_per_language=counts,
        hybrid_default=settings.hybrid,
        reranker=searcher.reranker.model_id if searcher.reranker else None,
        reranker_status="ready" if searcher.reranker else (searcher.reranker_error or "off"),
        synonyms=searcher.synonyms.counts(),
        vocabulary=(
            vocab.catalogue.summary()
            if (vocab := searcher.latest_vocabulary()) is not None and vocab.catalogue is not None
            else None
        ),
    )
