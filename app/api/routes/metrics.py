"""``GET /metrics``: Prometheus text format. HTTP metrics come from prometheus-fastapi-instrumentator (app
registry); encoder/store latency and index gauges from the Searcher's registry, refreshed on scrape."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.api.deps import SearcherDep, SettingsDep

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request, searcher: SearcherDep, settings: SettingsDep) -> Response:
    """Prometheus metrics: requests and latency per route and status, encoder and store latency, the serving index
    version and documents per language. Scrape each replica directly; keep it off the public proxy."""
    await searcher.refresh_metrics(settings.metrics_refresh_s)
    body = generate_latest(request.app.state.metrics_registry) + generate_latest(searcher.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
