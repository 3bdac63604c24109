"""Query → vector → filtered nearest neighbours, with the checks that keep answers honest."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from starlette.concurrency import run_in_threadpool

from app.api.schemas import SearchRequest, SearchResponse, SearchResult
from app.query.expansion import QueryTranslator, build_translator, with_market_names
from app.query.langid import LanguageDetector
from app.query.spelling import TEXT_FIELDS, Speller, dense_correction
from app.query.suggest import SUGGEST_FIELDS, Completion, Suggester
from app.query.synonyms import Synonyms, lexical_expansions
from app.retrieval.facets import by_price, facet_counts
from app.retrieval.hybrid import match, retrieve, spelled_vector
from app.services.batcher import QueryEncoder
from app.services.metrics import ServiceMetrics
from core.catalogue import Product, content_hash
from core.journal import ProductJournal, journal_path
from core.lexical import document_vector
from core.settings import LANGUAGES, Settings
from core.store.base import Filters, Hit, IndexVersion, Matches, StoreUnavailable, VectorStore
from indexer.vocabulary import CatalogueVocabulary, serving_vocabulary
from model.encoder import Encoder, Kind
from model.lasr.candidates import CandidateList
from model.lasr.reranker import Reranker

log = logging.getLogger(__name__)

T = TypeVar("T")


class IndexNotReady(RuntimeError):
    """No usable index version: none built yet, or built with another model."""


def names_cache_path(settings: Settings, encoder: Encoder, names: Sequence[str]) -> Path:
    """Where the market names' query vectors are kept between starts: keyed by everything that shapes a query
    vector (the model, and how queries are encoded: runtime, precision, view bound, query tower) and the names."""
    key = hashlib.sha256(
        "\n".join(
            [
                encoder.fingerprint,
                settings.runtime,
                settings.query_precision,
                repr(settings.query_view_bound),
                getattr(encoder, "query_signature", ""),
                *names,
            ]
        ).encode()
    ).hexdigest()[:16]
    return settings.model_cache_dir / "market-names" / f"{key}.npy"


@dataclass(frozen=True)
class QueryVocabulary:
    """What an index version's searches translate and spell with: its catalogue's mined vocabulary (and the
    product lexicon when configured) as a translator, and the speller over its words and the translator's."""

    version: IndexVersion | None
    translator: QueryTranslator
    speller: Speller | None
    catalogue: CatalogueVocabulary | None = None
    suggester: Suggester | None = None  # the search box's completions from this version's listings


@dataclass
class Searcher:
    settings: Settings
    encoder: Encoder
    store: VectorStore
    queries: QueryEncoder
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    reranker: Reranker | None = None
    detector: LanguageDetector = field(default_factory=LanguageDetector)
    reranker_error: str | None = None  # why reranking is unavailable, for /v1/info
    synonyms: Synonyms = field(default_factory=Synonyms)  # the merchant's rules (LIRA_SYNONYMS_PATH), replaceable
    journal: ProductJournal | None = None  # the document API's writes (core.journal); None: the API is read-only
    _journal_applied: IndexVersion | None = field(default=None, init=False, repr=False)  # replayed onto this one
    _write_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)
    # the serving version's query vocabulary; rebuilt in the background when the version moves
    _vocabulary: QueryVocabulary | None = field(default=None, init=False, repr=False)
    _vocabulary_pending: IndexVersion | None = field(default=None, init=False, repr=False)
    _vocabulary_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    vocabulary_ready: threading.Event = field(default_factory=threading.Event, init=False, repr=False)  # first built
    names_ready: threading.Event = field(default_factory=threading.Event, init=False, repr=False)  # market names

    @classmethod
    def build(
        cls, settings: Settings, encoder: Encoder, store: VectorStore, synonyms: Synonyms | None = None
    ) -> Searcher:
        """The serving searcher: micro-batched query encoder, language detector (warmed up), and LaSR when
        ``settings.rerank`` and its checkpoint fits the encoder (else reranking is off and /v1/info says why)."""
        from model.lasr.reranker import RerankerLoadError

        reranker, error = None, None
        if settings.rerank:
            try:
                reranker = Reranker.load(settings.lasr_checkpoint, encoder.fingerprint)
            except RerankerLoadError as exc:
                error = str(exc)
                log.warning("reranking disabled: %s", exc)
            if reranker is not None:
                try:
                    reranker.use_runtime(settings.runtime, settings.model_cache_dir)
                except Exception as exc:  # the torch head is always there to fall back on
                    log.warning("LaSR stays on torch: ONNX export or load failed (%s)", exc)
        else:
            error = "disabled by LIRA_RERANK=false"
        glosser = getattr(getattr(getattr(encoder, "core", None), "views", None), "glosser", None)
        detector = LanguageDetector(glosser)
        detector.warm_up()
        searcher = cls(
            settings,
            encoder,
            store,
            QueryEncoder(encoder),
            reranker=reranker,
            detector=detector,
            reranker_error=error,
            synonyms=synonyms if synonyms is not None else Synonyms.load(settings.synonyms_path),
            journal=ProductJournal(journal_path(settings.index_dir, settings.collection)),
        )
        # in the background: start-up never waits on the store (/readyz reports it)
        threading.Thread(target=searcher._warm_vocabulary, name="vocabulary", daemon=True).start()
        return searcher

    def _warm_names(self, translator: QueryTranslator) -> None:
        """The vectors of every market name the dense side may be pulled towards, encoded once and kept in the
        model cache for the next start (a name a search needs before then is encoded in its batch); the caller
        (``_set_vocabulary``) then sets ``names_ready``."""
        t0 = time.perf_counter()
        names = translator.listing_names()
        if not names:
            return
        path = names_cache_path(self.settings, self.encoder, names)
        try:
            cached = np.load(path) if path.exists() else None
            if cached is not None and cached.shape[0] == len(names):
                self.queries.pin_vectors(names, cached)
                how = "read"
            else:
                self.queries.pin(names)
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npy")
                np.save(tmp, self.queries.pinned(names))
                os.replace(tmp, path)
                how = "encoded"
        except Exception as exc:  # searches encode the names they need meanwhile
            log.warning("market names not prepared ahead: %s", exc)
            how = "not prepared"
        log.info("%d market names %s in %.1f s", len(names), how, time.perf_counter() - t0)

    def _warm_vocabulary(self) -> None:
        try:
            version = self.store.current_version()
        except Exception as exc:  # the first search after the store comes back builds it
            log.warning("query vocabulary not built at start-up: %s", exc)
            self.names_ready.set()  # no vocabulary, no names to prepare: searches encode the ones they need
            return
        if version is not None:
            self.vocabulary(version)  # starts the build
        else:  # nothing indexed yet: the lexicon alone (if configured) until the first version serves
            self._set_vocabulary(self._make_vocabulary(None))

    def vocabulary(self, version: IndexVersion) -> QueryVocabulary | None:
        """The query vocabulary of ``version``; while a new version's is being built (its mined vocabulary read
        and a background scan of its payloads), the previous version's answers, or none at the very start."""
        with self._vocabulary_lock:
            current = self._vocabulary
            if (current is None or current.version != version) and self._vocabulary_pending != version:
                self._vocabulary_pending = version
                threading.Thread(target=self._build_vocabulary, args=(version,), name="vocabulary", daemon=True).start()
        return current

    def latest_vocabulary(self) -> QueryVocabulary | None:
        """The most recently built query vocabulary (None before the first)."""
        return self._vocabulary

    def _make_vocabulary(self, version: IndexVersion | None) -> QueryVocabulary:
        s = self.settings
        catalogue = serving_vocabulary(self.store, version) if version is not None and s.catalogue_vocabulary else None
        translator = build_translator(catalogue.entries() if catalogue is not None else (), s.product_lexicon)
        if version is None:
            return QueryVocabulary(version, translator, None, catalogue)
        # one scan of the version's payloads serves both the spelling vocabulary and the completions
        payloads = list(self.store.scan_payloads(tuple(dict.fromkeys((*TEXT_FIELDS, *SUGGEST_FIELDS)))))
        speller = Speller.from_payloads(payloads, translator.spellings()) if s.spell_correct else None
        return QueryVocabulary(version, translator, speller, catalogue, Suggester.from_payloads(payloads))

    def _set_vocabulary(self, vocabulary: QueryVocabulary) -> None:
        with self._vocabulary_lock:
            self._vocabulary = vocabulary
            self._vocabulary_pending = None
        self.vocabulary_ready.set()
        if self.settings.translate_queries:
            self._warm_names(vocabulary.translator)
        self.names_ready.set()

    def _build_vocabulary(self, version: IndexVersion) -> None:
        t0 = time.perf_counter()
        try:
            vocabulary = self._make_vocabulary(version)
        except Exception as exc:  # the store went away: the next search tries again
            log.warning("query vocabulary for %s not built: %s", version, exc)
            with self._vocabulary_lock:
                self._vocabulary_pending = None
            self.names_ready.set()
            return
        words = vocabulary.speller.words if vocabulary.speller is not None else 0
        pairs = len(vocabulary.catalogue.pairs) if vocabulary.catalogue is not None else 0
        log.info(
            "query vocabulary of %s: %d catalogue pairs, %d spelling words in %.1f s",
            version,
            pairs,
            words,
            time.perf_counter() - t0,
        )
        self._set_vocabulary(vocabulary)

    def __post_init__(self) -> None:
        self.queries.on_batch = lambda seconds, n: self.metrics.observe_encode("query", seconds, n)

    async def _store_call(self, fn: Callable[..., T], *args: Any, opens: bool = False) -> T:
        """Every store call goes through here: a latency observation per operation, and off the event loop with a
        time limit (a hung store is a 503, not a hung request), except the reads of a store whose reads are local
        (``VectorStore.local_reads``: Edge), which run on the loop unless they may open a version (``opens``)."""
        outcome = "error"
        t0 = time.perf_counter()
        try:
            if self.store.local_reads and not opens:
                result = fn(*args)
            else:
                result = await asyncio.wait_for(run_in_threadpool(fn, *args), timeout=self.settings.store_timeout_s)
            outcome = "ok"
            return result
        except TimeoutError as exc:
            outcome = "timeout"
            raise StoreUnavailable(f"the vector store did not answer within {self.settings.store_timeout_s} s") from exc
        finally:
            self.metrics.observe_store(getattr(fn, "__name__", "call"), outcome, time.perf_counter() - t0)

    async def encode(self, texts: list[str], kind: Kind) -> np.ndarray:
        """Encode for /v1/encode, off the event loop, timed like query encodings."""
        t0 = time.perf_counter()
        vectors = await run_in_threadpool(self.encoder.encode, texts, kind)
        self.metrics.observe_encode(kind, time.perf_counter() - t0, len(texts))
        return vectors

    async def suggest(self, prefix: str, languages: Sequence[str] | None, k: int) -> list[Completion]:
        """Completions of ``prefix`` from the serving version's listings (``app.query.suggest``); the version is
        checked as a search checks it, and a version whose completions are still being built answers with the
        previous version's (none at the very start)."""
        version = await self.serving_version()
        vocab = self.vocabulary(version) or self.latest_vocabulary()
        if vocab is None or vocab.suggester is None:
            return []
        return vocab.suggester.suggest(prefix, languages, k)

    async def product(self, product_id: str) -> tuple[dict[str, Any] | None, IndexVersion]:
        """The serving version's stored payload of ``product_id`` (None when it has no such product)."""
        version = await self.serving_version()
        points = await self._store_call(self.store.retrieve, [product_id])
        return (points[0].payload if points else None), version

    async def serving_version(self) -> IndexVersion:
        try:
            version = None
            if self.store.local_reads:
                # a stat of the pointer, on the loop: the worker thread only when another version must be opened
                # (a hand-off per search competed with the encoder thread: ~3 ms p50, ~9 ms p95 on 2 busy cores)
                version = await self._store_call(self.store.current_version)
                if version is not None and version != self.store.opened_version():
                    version = None
            if version is None:
                version = await self._store_call(self.store.open_current, opens=True)
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
        if self.journal is not None and version != self._journal_applied:
            await self._replay_journal(version)
        return version

    async def _replay_journal(self, version: IndexVersion) -> None:
        """Apply to ``version`` the document API's writes it does not hold (those after the journal position its
        reindex recorded; all of them for a version built without the journal): after a restart (``kill -9``
        included) or a switch to a version a reindex built while writes came in. Idempotent."""
        from indexer.job import JOURNAL_SIDECAR

        assert self.journal is not None
        async with self._write_lock:
            if version == self._journal_applied:
                return
            recorded = await run_in_threadpool(self.store.read_sidecar, version, JOURNAL_SIDECAR)
            state = await run_in_threadpool(self.journal.latest, int((recorded or {}).get("seq", 0)))
            upserts = [p for p in state.values() if p is not None]
            deletes = [pid for pid, p in state.items() if p is None]
            for start in range(0, len(upserts), 256):
                await self._write(version, upserts[start : start + 256], [])
            if deletes:
                await self._write(version, [], deletes)
            if state:
                log.info("applied the journaled writes of %d products to %s", len(state), version)
            self._journal_applied = version

    async def _write(self, version: IndexVersion, products: Sequence[Product], deletes: Sequence[str]) -> None:
        """Encode ``products`` with the serving model (the version's: vectors of two models never mix) and write
        them, and ``deletes``, into ``version``."""
        texts = [p.passage_text() for p in products]
        vectors = (
            await run_in_threadpool(self.encoder.encode, texts, "passage")
            if texts
            else np.zeros((0, self.encoder.dim), np.float32)
        )
        payloads = [
            {**p.payload(), "content_hash": content_hash(t, self.encoder.fingerprint)}
            for p, t in zip(products, texts, strict=True)
        ]
        sparse = [document_vector(t) for t in texts]
        await run_in_threadpool(
            self.store.write_live, version, [p.id for p in products], vectors, payloads, sparse, deletes
        )

    async def write_products(self, products: Sequence[Product]) -> IndexVersion:
        """The document API's upsert: journaled durably (``fsync``) first, then written into the serving version,
        whose searches see the products at once. Returns the version written to."""
        if self.journal is None:
            raise IndexNotReady("this service has no product journal: products change only by reindexing")
        version = await self.serving_version()  # replays what the version lacks first
        async with self._write_lock:
            await run_in_threadpool(self.journal.append, products, ())
            await self._write(version, products, [])
        return version

    async def delete_product(self, product_id: str) -> tuple[bool, IndexVersion]:
        """The document API's delete: (whether the serving version had the product, the version)."""
        if self.journal is None:
            raise IndexNotReady("this service has no product journal: products change only by reindexing")
        version = await self.serving_version()
        async with self._write_lock:
            if not await self._store_call(self.store.retrieve, [product_id]):
                return False, version
            await run_in_threadpool(self.journal.append, (), [product_id])
            await self._write(version, [], [product_id])
        return True, version

    async def search(self, req: SearchRequest) -> SearchResponse:
        t0 = time.perf_counter()
        s = self.settings
        hybrid = s.hybrid if req.hybrid is None else req.hybrid
        rerank = (s.rerank if req.rerank is None else req.rerank) and self.reranker is not None
        # spelling from the vocabulary of the version serving now (or a moment ago: the version check runs
        # beside the encoder); a misspelt query's corrected text is encoded in the same batch as the query
        vocab = self.latest_vocabulary()
        translator = vocab.translator if vocab is not None and s.translate_queries else None
        speller = vocab.speller if vocab is not None else None
        spelling = speller.corrections(req.query) if speller is not None else {}
        detection, corrected = None, None
        if spelling and s.spell_dense:  # whether it is romanised needs the language first
            detection = self.detector.detect(req.query, req.query_language)
            corrected = dense_correction(req.query, spelling, detection.language, req.languages or ())
        # in a market, the names its listings print for the query's English words (their vectors are cached)
        names = (
            translator.market_names(corrected or req.query, req.languages)
            if translator is not None and req.languages
            else []
        )
        texts = [req.query, *([corrected] if corrected is not None else []), *names]
        # the encoder thread starts now; the version check, language detection and translation overlap it
        encoding = asyncio.ensure_future(self.queries.encode_many(texts))
        try:
            version = await self.serving_version()
            if detection is None:
                detection = self.detector.detect(req.query, req.query_language)
            translations = (
                translator.translations(req.query, req.languages, spelling) if hybrid and translator is not None else []
            )
            synonyms = self.synonyms.expansions(req.query, req.languages) if hybrid else []
            vectors = await encoding
        finally:
            encoding.cancel()  # no-op once done; else the encoder thread skips it
            if encoding.done() and not encoding.cancelled():
                encoding.exception()  # seen: no "exception never retrieved" when the version check failed first
        assert detection is not None  # detected before the encoder was awaited
        self.vocabulary(version)  # a version that just started serving gets its vocabulary built
        vector = vectors[0] if corrected is None else spelled_vector(vectors[0], vectors[1])
        if names:
            vector = with_market_names(vector, vectors[len(texts) - len(names) :])
        filters = Filters(
            languages=tuple(req.languages) if req.languages else None,
            category=req.category,
            min_price=req.min_price,
            max_price=req.max_price,
            brands=tuple(req.brands) if req.brands else None,
            attributes=tuple((name, tuple(v)) for name, v in req.attributes.items()) if req.attributes else None,
        )
        expansions = lexical_expansions(translations, synonyms)
        depth = req.offset + req.k
        matches: Matches | None = None
        if req.facets or req.sort != "relevance":
            matches = await self._store_call(self.matches, vector, req.query, filters, hybrid, spelling, expansions)
        rerank_scores: dict[str, float] = {}
        if matches is not None and req.sort != "relevance":
            rerank = False  # the order is the price's: nothing to rerank
            ordered = by_price(matches.payloads, descending=req.sort == "price_desc")
            hits = [_match_hit(p, matches) for p in ordered[req.offset : depth]]
            hits = await self._store_call(self.store.with_display_fields, hits)
        elif not hybrid and not rerank:
            hits = (await self._store_call(self.store.search, vector, depth, filters))[req.offset :]
            for h in hits:
                h.dense = h.score
        else:
            n = max(depth, s.rerank_candidates) if rerank else depth
            hits = await self._store_call(
                self.hybrid_search, vector, req.query, n, filters, hybrid, rerank, spelling, expansions
            )
            if rerank:
                hits, rerank_scores = self._rerank(vector, hits, detection.language)
            # candidates carry what ranking needs; titles, prices… are read for the shown ones alone
            hits = await self._store_call(self.store.with_display_fields, hits[req.offset : depth])
        results = [self._result(h, rerank_scores.get(h.id), hybrid, req.explain) for h in hits]
        return SearchResponse(
            query=req.query,
            results=results,
            offset=req.offset,
            sort=req.sort,
            total=len(matches.payloads) if matches is not None else None,
            total_relation=("eq" if matches.complete else "gte") if matches is not None else None,
            facets=facet_counts(matches.payloads, req.facets, s.facet_size)
            if matches is not None and req.facets
            else None,
            took_ms=round((time.perf_counter() - t0) * 1000, 2),
            index_version=str(version),
            model=self.encoder.model_id,
            query_language=detection.language,
            query_language_source=detection.method,
            hybrid=hybrid,
            reranked=rerank,
            reranker=self.reranker.model_id if rerank and self.reranker is not None else None,
            spelling=spelling,
            translations=translations,
            synonyms=synonyms,
            vocabulary=self._vocabulary_pairs(vocab, req, [*translations, *names]) if req.explain else None,
        )

    @staticmethod
    def _vocabulary_pairs(vocab: QueryVocabulary | None, req: SearchRequest, terms: Sequence[str]) -> list[dict]:
        """The catalogue vocabulary's pairs behind the terms a search added, in its markets (for ``explain``)."""
        if vocab is None or vocab.catalogue is None:
            return []
        markets = set(req.languages or ())
        return [p for p in vocab.catalogue.lookup(req.query, terms) if not markets or p["language"] in markets]

    def hybrid_search(
        self,
        vector: np.ndarray,
        text: str,
        n: int,
        filters: Filters,
        hybrid: bool,
        with_vectors: bool,
        corrections: Mapping[str, str] | None = None,
        expansions: Sequence[str] = (),
    ) -> list[Hit]:
        """``retrieve``, as training and evaluation call it, with this service's fusion settings."""
        s = self.settings
        return retrieve(
            self.store,
            vector,
            text,
            n,
            filters,
            prefetch=s.prefetch,
            rrf_k=s.rrf_k,
            with_vectors=with_vectors,
            hybrid=hybrid,
            corrections=corrections,
            expansions=expansions,
        )

    def matches(
        self,
        vector: np.ndarray,
        text: str,
        filters: Filters,
        hybrid: bool,
        corrections: Mapping[str, str] | None = None,
        expansions: Sequence[str] = (),
    ) -> Matches:
        """``match`` with this service's match window and lexical cap."""
        s = self.settings
        return match(
            self.store,
            vector,
            text,
            filters,
            window=s.match_window,
            lexical_cap=s.match_lexical_cap,
            dense_margin=s.match_dense_margin,
            lexical_ratio=s.match_lexical_ratio,
            hybrid=hybrid,
            corrections=corrections,
            expansions=expansions,
        )

    def _rerank(self, vector: np.ndarray, hits: list[Hit], language: str | None) -> tuple[list[Hit], dict[str, float]]:
        """LaSR over the top ``rerank_candidates``; anything beyond keeps its fused order after them."""
        assert self.reranker is not None
        t0 = time.perf_counter()
        head, tail = hits[: self.settings.rerank_candidates], hits[self.settings.rerank_candidates :]
        order, scores = self.reranker.rerank(CandidateList.from_hits(vector, head), language)
        self.metrics.observe_rerank(time.perf_counter() - t0, len(head))
        return [head[i] for i in order] + tail, {head[i].id: float(scores[i]) for i in order}

    @staticmethod
    def _result(h: Hit, rerank: float | None, hybrid: bool, explain: bool) -> SearchResult:
        p = h.payload
        score = rerank if rerank is not None else h.score
        extra = {}
        if explain:
            extra = {
                "dense_score": _r(h.dense),
                "lexical_score": _r(h.lexical),
                "fused_score": _r(h.score) if hybrid else None,
                "rerank_score": _r(rerank),
            }
        return SearchResult(
            id=p["id"],
            title=p["title"],
            language=p["language"],
            category=p["category"],
            brand=p.get("brand", ""),
            price=p["price"],
            currency=p["currency"],
            score=round(float(score), 6),
            **extra,
        )

    async def readiness(self) -> tuple[list[str], IndexVersion | None]:
        reasons: list[str] = []
        version = None
        try:
            version = await self.serving_version()
            if await self._store_call(self.store.count) == 0:
                reasons.append(f"the serving index {version} is empty")
            elif self.vocabulary(version) is None:
                reasons.append(f"the query vocabulary of {version} is being built")
            if not self.names_ready.is_set():
                reasons.append("the market names' vectors are being encoded")
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


def _match_hit(payload: dict, matches: Matches) -> Hit:
    """A match as a result: its score is the cosine for a dense match, else its BM25 score."""
    fields = {k: v for k, v in payload.items() if k != "score"}
    dense = payload["id"] in matches.dense_ids
    return Hit(
        payload["id"],
        payload["score"],
        fields,
        dense=payload["score"] if dense else None,
        lexical=None if dense else payload["score"],
    )


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)
