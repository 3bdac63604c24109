"""Training / evaluation examples for LaSR: judged queries with their hybrid candidate lists.

The lists come from a real Edge index of the catalogue built by the real indexer (dense vectors from the
evaluator's embedding cache, lexical vectors from the text) and the same ``retrieve`` call the API makes, with
the query's market as the filter (its language plus English) — so the head is trained on what it will see.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import random
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.query.expansion import TRANSLATION_VERSION, QueryTranslator, build_translator, with_market_names
from app.query.spelling import SPELLER_VERSION, Speller, dense_correction
from app.query.synonyms import Synonyms, lexical_expansions
from app.retrieval.hybrid import retrieve, spelled_vector
from core.lexical import LEXICAL_VERSION
from core.store.base import Filters, VectorStore
from model.encoder import Encoder
from model.lasr.candidates import CandidateList


@dataclass
class Example:
    qid: str
    text: str
    market: str
    noise: str
    language: str | None  # detected from the text, as the API does when the client gives none
    relevant: dict[str, int]
    candidates: CandidateList
    variant_text: str | None = None
    variant_language: str | None = None
    variant: CandidateList | None = None

    def gains(self, n: int) -> np.ndarray:
        g = np.zeros(n, np.float32)
        for i, pid in enumerate(self.candidates.ids[:n]):
            grade = self.relevant.get(pid, 0)
            g[i] = 2.0**grade - 1 if grade > 0 else 0.0
        return g


def candidate_lists(
    catalogue: Path,
    passages: Sequence[str],
    passage_vectors: np.ndarray,
    encoder: Encoder,
    queries: Sequence[tuple[str, str]],
    query_vectors: np.ndarray,
    n: int,
    prefetch: int,
    rrf_k: int,
    progress: bool = True,
    spell: bool = True,
    spell_dense_side: bool = True,
    translate: bool = True,
    synonyms: Synonyms | None = None,
    catalogue_vocabulary: bool = True,
    product_lexicon: bool = False,
) -> list[CandidateList]:
    """The hybrid top-``n`` for each (text, market) query, from a throwaway Edge index of ``catalogue`` (with that
    index's spelling corrections on the lexical side when ``spell``, and on the dense side too when
    ``spell_dense_side`` (``spell_dense``), and with the market-language terms of English words when ``translate``,
    as the API does; with ``synonyms``, the terms its rules add join the lexical side after those, as the API adds
    the merchant's rules). The translator is the API's: the index's mined vocabulary when ``catalogue_vocabulary``
    (mined by the indexer, its terms encoded by ``encoder``), the hand lexicon's entries when ``product_lexicon``."""
    from tqdm import tqdm

    from indexer.vocabulary import serving_vocabulary

    lookup = LookupEncoder(encoder.fingerprint, encoder.model_id, passages, passage_vectors, queries=encoder)
    with tempfile.TemporaryDirectory(prefix="lira-lasr-index-") as tmp:
        store = build_index(catalogue, lookup, Path(tmp), vocabulary=translate and catalogue_vocabulary)
        try:
            version = store.current_version()
            mined = serving_vocabulary(store, version) if version is not None else None
            translator = (
                build_translator(mined.entries() if mined is not None else (), product_lexicon) if translate else None
            )
            speller = Speller.from_store(store, translator.spellings() if translator else ()) if spell else None
            corrections = [speller.corrections(text) if speller is not None else {} for text, _ in queries]
            query_vectors = spell_dense(
                encoder, queries, query_vectors, corrections if spell_dense_side else [{} for _ in queries], translator
            )
            out = []
            for (text, market), qv, fixes in tqdm(
                list(zip(queries, query_vectors, corrections, strict=True)),
                desc="candidates",
                unit="query",
                disable=not progress,
                file=sys.stderr,
            ):
                markets = (market, "en")
                expansions = translator.translations(text, markets, fixes) if translator is not None else []
                if synonyms is not None:
                    expansions = lexical_expansions(expansions, synonyms.expansions(text, markets))
                hits = retrieve(
                    store,
                    qv,
                    text,
                    n,
                    Filters(languages=markets),
                    prefetch=prefetch,
                    rrf_k=rrf_k,
                    corrections=fixes,
                    expansions=expansions,
                )
                out.append(CandidateList.from_hits(qv, hits))
            return out
        finally:
            store.close()


def spell_dense(
    encoder: Encoder,
    queries: Sequence[tuple[str, str]],
    vectors: np.ndarray,
    corrections: Sequence[Mapping[str, str]],
    translator: QueryTranslator | None = None,
) -> np.ndarray:
    """``vectors`` as the API makes the dense query of each (text, market) query searched in its market: a misspelt
    one's replaced by ``spelled_vector`` of it and its corrected text (``dense_correction``; the query language
    detected from the text, as the API does without a client hint), then, with a ``translator``, pulled towards
    the market's names for its English words (``with_market_names``). One batch for the corrected texts, one for
    the names."""
    from app.query.langid import LanguageDetector

    detector = LanguageDetector()
    out = np.array(vectors, dtype=np.float32, copy=True)
    fixed = {
        i: t
        for i, ((text, market), fixes) in enumerate(zip(queries, corrections, strict=True))
        if fixes and (t := dense_correction(text, fixes, detector.detect(text).language, (market,))) is not None
    }
    if fixed:
        for i, v in zip(fixed, encoder.encode(list(fixed.values()), kind="query"), strict=True):
            out[i] = spelled_vector(out[i], v)
    if translator is None:
        return out
    names = {
        i: found
        for i, (text, market) in enumerate(queries)
        if (found := translator.market_names(fixed.get(i, text), (market, "en")))
    }
    unique = list(dict.fromkeys(n for found in names.values() for n in found))
    if unique:
        known = dict(zip(unique, encoder.encode(unique, kind="query"), strict=True))
        for i, found in names.items():
            out[i] = with_market_names(out[i], [known[n] for n in found])
    return out


def _variant(text: str, language: str, rng: random.Random, glosser) -> str | None:
    from model.training.arca.data import Pair
    from model.training.arca.noise import make_variant

    made = make_variant(Pair(text, "", language, "query"), rng, glosser, {})
    return made[1] if made else None


def prepare_examples(
    split: str,
    encoder: Encoder,
    catalogue: Path,
    n: int,
    prefetch: int,
    rrf_k: int,
    cache_dir: Path,
    *,
    variants: bool,
    spell: bool = True,
    seed: int = 13,
    limit: int | None = None,
    progress: bool = True,
    catalogue_vocabulary: bool = True,
    product_lexicon: bool = False,
    queries_path: Path | None = None,
) -> list[Example]:
    """Examples of ``queries_path`` (default: ``queries.<split>.jsonl`` beside ``catalogue``; cached on disk by
    everything they depend on), their candidates retrieved with the query vocabulary the API would use with these
    settings."""
    from app.query.langid import LanguageDetector
    from core.catalogue import read_catalogue
    from model.evaluation.evaluate import Embedder, read_queries

    report = read_catalogue(catalogue)
    queries_path = queries_path or catalogue.parent / f"queries.{split}.jsonl"
    queries = read_queries(queries_path, {p.id for p in report.products})[:limit]
    key = hashlib.sha256(
        json.dumps(
            [
                split,
                encoder.fingerprint,
                getattr(encoder, "query_signature", ""),
                report.sha256,
                hashlib.sha256(queries_path.read_bytes()).hexdigest(),
                n,
                prefetch,
                rrf_k,
                variants,
                seed,
                limit,
                LEXICAL_VERSION,
                SPELLER_VERSION if spell else None,
                2,
                TRANSLATION_VERSION,
                catalogue_vocabulary,
                product_lexicon,
            ]
        ).encode()
    ).hexdigest()[:16]
    path = cache_dir / f"examples-{split}-{key}.pkl"
    if path.exists():
        with open(path, "rb") as fh:
            return pickle.load(fh)

    embedder = Embedder(cache_dir / "embeddings", progress=progress)  # beside the examples: the run's cache
    passages = [p.passage_text() for p in report.products]
    passage_vectors = embedder(encoder, passages, "passage", {"catalogue_sha256": report.sha256})
    detector = LanguageDetector()
    examples = [
        Example(q.id, q.text, q.language, q.noise, detector.detect(q.text).language, dict(q.relevant), None)
        for q in queries
    ]
    texts = [(e.text, e.market) for e in examples]
    if variants:
        rng = random.Random(seed)
        for e in examples:
            e.variant_text = _variant(e.text, e.market, rng, detector.glosser)
            e.variant_language = detector.detect(e.variant_text).language if e.variant_text else None
        texts += [(e.variant_text, e.market) for e in examples if e.variant_text]
    vectors = embedder(encoder, [t for t, _ in texts], "query")
    lists = candidate_lists(
        catalogue,
        passages,
        passage_vectors,
        encoder,
        texts,
        vectors,
        n,
        prefetch,
        rrf_k,
        progress,
        spell,
        catalogue_vocabulary=catalogue_vocabulary,
        product_lexicon=product_lexicon,
    )
    it = iter(lists[len(examples) :])
    for e, c in zip(examples, lists, strict=False):
        e.candidates = c
        if e.variant_text:
            e.variant = next(it)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(examples, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)
    return examples


class LookupEncoder:
    """An ``Encoder`` over vectors computed already (the evaluator's cache): lets the real indexer build an index
    of the catalogue for evaluation and training without encoding anything twice."""

    def __init__(
        self, fingerprint: str, model_id: str, texts: Sequence[str], vectors: np.ndarray, queries: Encoder | None = None
    ) -> None:
        """``queries``: the real encoder, for the query vectors the indexer needs (the catalogue vocabulary's
        terms); without it only passages can be looked up."""
        self.fingerprint, self.model_id, self.dim = fingerprint, model_id, vectors.shape[1]
        self._table = dict(zip(texts, vectors, strict=True))
        self._queries = queries

    def encode(
        self, texts: Sequence[str], kind: str = "passage", batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        if kind != "passage":
            if self._queries is None:
                raise ValueError("this LookupEncoder holds passage vectors only (no query encoder given)")
            return self._queries.encode(list(texts), kind=kind, batch_size=batch_size)
        return np.stack([self._table[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


def build_index(catalogue: Path, encoder: LookupEncoder, root: Path, vocabulary: bool = False) -> VectorStore:
    """An Edge index of ``catalogue`` (dense from ``encoder``, lexical from the text) in ``root``, served; with its
    mined ``vocabulary`` (terms encoded by the encoder's query side)."""
    from core.store.edge import EdgeStore
    from indexer.job import reindex

    store = EdgeStore(root, "products")
    reindex(catalogue, encoder, store, progress=False, vocabulary=vocabulary)
    return store
