"""Query → vector → filtered nearest neighbours, with the checks that keep answers honest."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from app.schemas import SearchRequest, SearchResponse, SearchResult
from app.services.batcher import QueryEncoder
from app.services.metrics import ServiceMetrics
from core.settings import LANGUAGES, Settings
from core.store.base import Filters, IndexVersion, StoreUnavailable, VectorStore
from model.encoder import Encoder

T = TypeVar("T")


class IndexNotReady(RuntimeError):
    """No usable index version: none built yet, or built with another model."""


@dataclass
class Searcher:
    settings: Settings
    encoder: Encoder
    store: VectorStore
    queries: QueryEncoder
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)

    def __post_init__(self) -> None:
        self.queries.on_batch = lambda seconds, n: self.metrics.observe_encode("query", seconds, n)

    async def _store_call(self, fn: Callable[..., T], *args) -> T:
        """Every store call goes through here: a time limit (a hung store is a 503, not a hung request) and a
        latency observation per operation."""
        outcome = "error"
        t0 = time.perf_counter()
        try:
            result = await asyncio.wait_for(run_in_threadpool(fn, *args), timeout=self.settings.store_timeout_s)
            outcome = "ok"
            return result
        except TimeoutError as exc:
            outcome = "timeout"
            raise StoreUnavailable(f"the vector store did not answer within {self.settings.store_timeout_s} s") from exc
        finally:
            self.metrics.observe_store(getattr(fn, "__name__", "call"), outcome, time.perf_counter() - t0)

    async def encode(self, texts: list[str], kind: str):
        """Encode for /v1/encode, off the event loop, timed like query encodings."""
        t0 = time.perf_counter()
        vectors = await run_in_threadpool(self.encoder.encode, texts, kind)
        self.metrics.observe_encode(kind, time.perf_counter() - t0, len(texts))
        return vectors

    async def serving_version(self) -> IndexVersion:
        try:
            version = await self._store_call(self.store.current_version)
        except StoreUnavailable:
            self.metrics.serving(None)
            raise
        if version is None:
            self.metrics.serving(None)
            raise IndexNotReady("no index has been built yet: run `python -m indexer reindex`")
        if version.model != self.encoder.fingerprint[: len(version.model)]:
            self.metrics.serving(None)
            raise IndexNotReady(
                f"the serving index {version} was built with model {version.model}, but this API runs "
                f"{self.encoder.fingerprint}: reindex with the same model (vectors of two models never mix)"
            )
        self.metrics.serving(str(version))
        return version

    async def search(self, req: SearchRequest) -> SearchResponse:
        t0 = time.perf_counter()
        version = await self.serving_version()
        vector = await self.queries.encode(req.query)
        filters = Filters(
            languages=tuple(req.languages) if req.languages else None,
            category=req.category,
            min_price=req.min_price,
            max_price=req.max_price,
        )
        hits = await self._store_call(self.store.search, vector, req.k, filters)
        results = [
            SearchResult(
                id=h.payload["id"], title=h.payload["title"], language=h.payload["language"],
                category=h.payload["category"], brand=h.payload.get("brand", ""), price=h.payload["price"],
                currency=h.payload["currency"], score=round(float(h.score), 6),
            )
            for h in hits
        ]
        return SearchResponse(
            query=req.query, results=results, took_ms=round((time.perf_counter() - t0) * 1000, 2),
            index_version=str(version), model=self.encoder.model_id,
        )

    async def readiness(self) -> tuple[list[str], IndexVersion | None]:
        reasons: list[str] = []
        version = None
        try:
            version = await self.serving_version()
            if await self._store_call(self.store.count) == 0:
                reasons.append(f"the serving index {version} is empty")
        except (StoreUnavailable, IndexNotReady) as exc:
            reasons.append(str(exc))
        return reasons, version

    async def counts(self) -> dict[str, int]:
        counts = await self._store_call(self.store.counts_by_language, LANGUAGES)
        self.metrics.set_documents(counts)
        return counts

    async def refresh_metrics(self, max_age_s: float) -> None:
        """Serving version and documents per language for /metrics, from the store at most every ``max_age_s``;
        a scrape while the store is down keeps the last counts and reports lira_index_ready 0."""
        last = self.metrics.refreshed_at
        if last and time.monotonic() - last < max_age_s:
            return
        self.metrics.refreshed_at = time.monotonic()  # before the calls: concurrent scrapes do not pile up
        try:
            await self.serving_version()
            await self.counts()
        except (StoreUnavailable, IndexNotReady):
            return
