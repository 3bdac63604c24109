"""Query → vector → filtered nearest neighbours, with the checks that keep answers honest."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from app.schemas import SearchRequest, SearchResponse, SearchResult
from app.services.batcher import QueryEncoder
from core.settings import LANGUAGES, Settings
from core.store.base import Filters, IndexVersion, StoreUnavailable, VectorStore
from model.encoder import Encoder


class IndexNotReady(RuntimeError):
    """No usable index version: none built yet, or built with another model."""


@dataclass
class Searcher:
    settings: Settings
    encoder: Encoder
    store: VectorStore
    queries: QueryEncoder

    async def _store_call(self, fn, *args):
        try:
            return await asyncio.wait_for(run_in_threadpool(fn, *args), timeout=self.settings.store_timeout_s)
        except TimeoutError as exc:
            raise StoreUnavailable(f"the vector store did not answer within {self.settings.store_timeout_s} s") from exc

    async def serving_version(self) -> IndexVersion:
        version = await self._store_call(self.store.current_version)
        if version is None:
            raise IndexNotReady("no index has been built yet: run `python -m indexer reindex`")
        if version.model != self.encoder.fingerprint[: len(version.model)]:
            raise IndexNotReady(
                f"the serving index {version} was built with model {version.model}, but this API runs "
                f"{self.encoder.fingerprint}: reindex with the same model (vectors of two models never mix)"
            )
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
        return await self._store_call(self.store.counts_by_language, LANGUAGES)
