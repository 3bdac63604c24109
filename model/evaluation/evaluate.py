"""``python -m model.evaluation``: the evaluation anyone can rerun, for the trained Arca encoder against its base.

``pairs --data DIR [--json OUT] [--limit N]``
    Bitext mining on every ``LANG.tsv`` (``English<TAB>other``, one pair a line) in DIR: for each line, is its
    translation the cosine nearest neighbour among all lines of the file, xx->en and en->xx (top-1 accuracy)?
    Both sides are encoded with the E5 "query" prefix, the usual choice for symmetric bitext retrieval. A hit
    compares texts, not line numbers, so a sentence that occurs twice in a file is not counted as an error.
    Also reports the mean cosine between Arca and base embeddings of the English sentences: Arca is trained
    to move the other languages onto English, and English itself must stay put (target >= 0.98).
    JSON: ``{"arca": {lang: {"xx2en", "en2xx"}}, "base": {...}, "english_cosine_arca_vs_base": x}``, fractions.

``catalogue [--split test] [--out DIR]``
    Product retrieval on ``queries.<split>.jsonl`` beside the catalogue, for the systems in ``SYSTEMS``. The
    candidates for a query are the products in its language plus the English products: the catalogue a
    shopper in that market browses. Metrics (``model.evaluation.metrics``, graded gains 3/2/1) per query, averaged over
    the queries of each language x noise type, each language, each noise type and all queries:
      nDCG@10    linear gains, log2 discount, ideal DCG from every judged relevant product;
      Recall@10  fraction of the relevant products (any grade >= 1) that are in the top 10;
      MRR        1 / rank of the first relevant product of any grade within the top 100 (0 beyond).
    Writes ``catalogue_<split>.{json,md,png}`` and prints the Markdown; the JSON is
    ``{system: {lang | "all": {noise | "all": {"ndcg@10", "recall@10", "mrr"}}}}``. Tune on ``--split dev``; report
    ``test``, which is never looked at while choosing anything.

Embeddings are cached in ``var/cache/eval/<fingerprint>/``, keyed by the hash of the texts, so reruns only
encode what changed. Until a trained checkpoint exists, "arca" is the base encoder itself: both columns are
then the same model, and the output says so.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.catalogue import Product, read_catalogue
from core.settings import LANGUAGES, REPO_ROOT, Settings, get_settings
from model.encoder import Encoder, Kind
from model.evaluation.bm25 import BM25Index
from model.evaluation.metrics import ndcg_at_k, recall_at_k, reciprocal_rank

CACHE_DIR = REPO_ROOT / "var" / "cache" / "eval"
OUT_DIR = REPO_ROOT / "artifacts" / "eval"
K = 10
DEPTH = 100  # ranking depth kept per query: MRR's cut-off, and room for rerankers / fusion
ALL = "all"
METRICS = ("ndcg@10", "recall@10", "mrr")
NOISE_ORDER = ("clean", "no_diacritics", "romanized", "typo", "code_mixed", "cross_lingual_en")
ENGLISH_COSINE_TARGET = 0.98


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def load_encoders(settings: Settings) -> dict[str, Encoder]:
    """The two encoders compared. Before Arca is trained, "arca" is the base itself, so the evaluation still runs
    (and says so); a checkpoint that exists but does not load still fails loudly."""
    from model.loader import load_encoder

    base = load_encoder(settings.model_copy(update={"model": "base"}))
    if not settings.arca_checkpoint.is_file():
        _warn(f"Arca checkpoint {settings.arca_checkpoint} not found (not trained yet?): evaluating the base as arca")
        return {"arca": base, "base": base}
    return {"arca": load_encoder(settings.model_copy(update={"model": "arca"})), "base": base}


def _same_model_note(encoders: Mapping[str, Encoder]) -> str | None:
    arca, base = encoders.get("arca"), encoders.get("base")
    if arca is None or base is None or arca.fingerprint != base.fingerprint:
        return None
    return (
        f"arca and base are the same model ({base.model_id}, fingerprint {base.fingerprint}): Arca is not "
        "trained yet, so every arca number equals base and every delta is 0"
    )


@dataclass
class Embedder:
    """Encodes through an on-disk cache: a rerun on unchanged texts with unchanged weights encodes nothing."""

    cache_dir: Path
    batch_size: int | None = None
    progress: bool = True

    def __call__(
        self, encoder: Encoder, texts: Sequence[str], kind: Kind, provenance: dict | None = None
    ) -> np.ndarray:
        # keyed by the texts themselves, so a catalogue edit or a passage_text() change can never hit a stale entry
        variant = getattr(encoder, "query_signature", "") if kind == "query" else ""
        key = [kind, variant, *texts] if variant else [kind, *texts]
        digest = hashlib.sha256(json.dumps(key, ensure_ascii=False).encode()).hexdigest()
        path = self.cache_dir / encoder.fingerprint / f"{kind}-{digest[:16]}.npy"
        if path.exists():
            vectors = np.load(path)
            if vectors.shape == (len(texts), encoder.dim):
                return vectors
        print(f"encoding {len(texts)} {kind} texts with {encoder.model_id} [{encoder.fingerprint}]", file=sys.stderr)
        vectors = encoder.encode(texts, kind=kind, batch_size=self.batch_size, progress=self.progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # then an atomic rename: never a torn cache file
        with open(tmp, "wb") as fh:
            np.save(fh, vectors)
        os.replace(tmp, path)
        meta = {
            "model_id": encoder.model_id,
            "fingerprint": encoder.fingerprint,
            "kind": kind,
            "count": len(texts),
            "texts_sha256": digest,
            **(provenance or {}),
        }
        path.with_suffix(".json").write_text(json.dumps(meta, indent=2))
        return vectors


# ---------------------------------------------------------------------------------------------- pairs


def read_pairs(path: Path, limit: int | None = None) -> tuple[list[str], list[str]]:
    """(English, other) sides of the first ``limit`` well-formed lines; the others are skipped with one warning."""
    english: list[str] = []
    other: list[str] = []
    bad: list[int] = []
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if limit is not None and len(english) >= limit:
                break
            try:
                fields = [f.strip() for f in raw.decode("utf-8").rstrip("\r\n").split("\t")]
            except UnicodeDecodeError:
                bad.append(lineno)
                continue
            if len(fields) != 2 or not all(fields):
                bad.append(lineno)
                continue
            english.append(fields[0])
            other.append(fields[1])
    if bad:
        shown = ", ".join(map(str, bad[:10])) + (", ..." if len(bad) > 10 else "")
        _warn(f"{path}: skipped {len(bad)} malformed line(s) (want English<TAB>other, UTF-8): line {shown}")
    return english, other


def read_pair_dir(data_dir: Path, limit: int | None = None) -> dict[str, tuple[list[str], list[str]]]:
    """``{lang: (english, other)}`` for every ``LANG.tsv`` in ``data_dir`` that has at least one valid pair."""
    files = sorted(data_dir.glob("*.tsv"))
    if not files:
        raise FileNotFoundError(f"no *.tsv files in {data_dir}")
    pairs = {}
    for path in files:
        english, other = read_pairs(path, limit)
        if english:
            pairs[path.stem] = (english, other)
        else:
            _warn(f"{path}: no valid pair, language {path.stem!r} left out")
    return pairs


def bitext_top1(sims: np.ndarray, targets: Sequence[str]) -> float:
    """Share of rows i whose highest-scoring column holds the same text as column i (row i's translation)."""
    best = sims.argmax(axis=1)
    return float(np.mean([targets[j] == targets[i] for i, j in enumerate(best)]))


def evaluate_pairs(
    pairs: Mapping[str, tuple[list[str], list[str]]], encoders: Mapping[str, Encoder], embedder: Embedder
) -> dict:
    """``{"arca": {lang: {"xx2en", "en2xx"}}, "base": {...}, "english_cosine_arca_vs_base": x}``, as fractions."""
    # FLORES-style directories repeat the same English side in every file: encode each distinct text once
    texts = list(dict.fromkeys(t for en, xx in pairs.values() for t in (*en, *xx)))
    row = {t: i for i, t in enumerate(texts)}
    english_rows = list(dict.fromkeys(row[t] for en, _ in pairs.values() for t in en))
    result: dict = {}
    english: dict[str, np.ndarray] = {}
    for name, encoder in encoders.items():
        vectors = embedder(encoder, texts, "query")
        english[name] = vectors[english_rows]
        result[name] = {}
        for lang, (en, xx) in pairs.items():
            sims = vectors[[row[t] for t in xx]] @ vectors[[row[t] for t in en]].T
            result[name][lang] = {"xx2en": round(bitext_top1(sims, en), 4), "en2xx": round(bitext_top1(sims.T, xx), 4)}
    cosine = np.sum(english["arca"] * english["base"], axis=1).mean()
    result["english_cosine_arca_vs_base"] = round(float(cosine), 4)
    return result


def pairs_table(result: Mapping, counts: Mapping[str, int]) -> str:
    """Aligned text table in percent: per language arca / base / delta for each direction, then the mean."""
    langs = list(result["base"])
    rows = [(lang, str(counts[lang]), *_pair_cells(result, [lang])) for lang in langs]
    rows.append(("mean", "", *_pair_cells(result, langs)))
    header = ("lang", "pairs", "arca", "base", "Δ", "arca", "base", "Δ")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    direction = f"{'':{widths[0] + widths[1] + 2}}  {'xx→en':^{sum(widths[2:5]) + 4}}  {'en→xx':^{sum(widths[5:]) + 4}}"

    def line(cells: Sequence[str]) -> str:
        parts = [cells[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))]
        return "  ".join(parts[:2]) + "    " + "  ".join(parts[2:5]) + "    " + "  ".join(parts[5:])

    lines = [direction.rstrip(), line(header), "-" * len(line(header))]
    lines += [line(r) for r in rows[:-1]] + ["-" * len(line(header)), line(rows[-1])]
    cosine = result["english_cosine_arca_vs_base"]
    verdict = "ok" if cosine >= ENGLISH_COSINE_TARGET else "BELOW TARGET"
    lines.append(f"\nEnglish cosine arca vs base: {cosine:.4f} (target >= {ENGLISH_COSINE_TARGET}: {verdict})")
    return "\n".join(lines)


def _pair_cells(result: Mapping, langs: Sequence[str]) -> list[str]:
    cells = []
    for direction in ("xx2en", "en2xx"):
        arca, base = (float(np.mean([result[s][lang][direction] for lang in langs])) for s in ("arca", "base"))
        cells += [f"{100 * arca:.1f}", f"{100 * base:.1f}", f"{100 * (arca - base):+.1f}"]
    return cells


# ------------------------------------------------------------------------------------------ catalogue


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    language: str = Field(min_length=1)
    noise: str = Field(min_length=1)
    relevant: dict[str, int]


def read_queries(path: Path, product_ids: set[str]) -> list[Query]:
    """Judged queries; malformed or repeated rows and rows with no relevant product (grade >= 1) are skipped."""
    queries: list[Query] = []
    bad: list[str] = []
    unjudged: list[str] = []
    unknown: set[str] = set()
    seen: set[str] = set()
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                query = Query.model_validate_json(line)
            except ValidationError as exc:
                bad.append(f"line {lineno}: {exc.errors()[0]['msg']}")
                continue
            if query.id in seen:
                bad.append(f"line {lineno}: duplicate id {query.id!r}")
                continue
            seen.add(query.id)
            if not any(g >= 1 for g in query.relevant.values()):
                unjudged.append(query.id)
                continue
            unknown |= query.relevant.keys() - product_ids
            queries.append(query)
    if bad:
        shown = "; ".join(bad[:5]) + (" ..." if len(bad) > 5 else "")
        _warn(f"{path}: skipped {len(bad)} malformed or repeated row(s): {shown}")
    if unjudged:
        _warn(f"{path}: skipped {len(unjudged)} query(ies) with no relevant product: {', '.join(unjudged[:5])}")
    if unknown:
        _warn(f"{path}: {len(unknown)} judged product id(s) are not in the catalogue (they count as never found)")
    return queries


@dataclass
class CatalogueRun:
    """What the systems rank from: products, queries, markets, embeddings and each other's rankings, all memoised."""

    products: list[Product]
    queries: list[Query]
    encoders: Mapping[str, Encoder]
    embedder: Embedder
    catalogue_sha: str
    catalogue_path: Path | None = None  # hybrid systems index this file with the real indexer
    settings: Settings | None = None
    _vectors: dict[tuple[str, Kind], np.ndarray] = field(default_factory=dict, repr=False)
    _rankings: dict[str, list[list[str]]] = field(default_factory=dict, repr=False)

    @cached_property
    def passages(self) -> list[str]:
        return [p.passage_text() for p in self.products]

    @cached_property
    def markets(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return market_positions(self.products, self.queries)

    def vectors(self, encoder: str, kind: Kind) -> np.ndarray:
        if (encoder, kind) not in self._vectors:
            if kind == "passage":
                texts, provenance = self.passages, {"catalogue_sha256": self.catalogue_sha}
            else:
                texts, provenance = [q.text for q in self.queries], None
            self._vectors[encoder, kind] = self.embedder(self.encoders[encoder], texts, kind, provenance)
        return self._vectors[encoder, kind]

    def rankings(self, system: str) -> list[list[str]]:
        """Top-``DEPTH`` product ids per query (best first) from ``SYSTEMS[system]``, computed once per run."""
        if system not in self._rankings:
            self._rankings[system] = SYSTEMS[system](self)
        return self._rankings[system]


def _bm25(run: CatalogueRun) -> list[list[str]]:
    """One index per market, so IDF reflects the catalogue the shopper actually searches."""
    ranked: list[list[str]] = [[] for _ in run.queries]
    for candidates, query_positions in run.markets:
        index = BM25Index([run.passages[i] for i in candidates])
        for q in query_positions:
            ranked[q] = [run.products[candidates[j]].id for j in index.search(run.queries[q].text, DEPTH)]
    return ranked


def _dense(encoder: str) -> Callable[[CatalogueRun], list[list[str]]]:
    """Exact cosine (vectors are unit length) over the market's candidates."""

    def rank(run: CatalogueRun) -> list[list[str]]:
        return dense_rankings(run.products, run.markets, run.vectors(encoder, "passage"), run.vectors(encoder, "query"))

    return rank


def rrf_fuse(lists: Sequence[Sequence[str]], k: int, depth: int = DEPTH) -> list[str]:
    """Reciprocal-rank fusion: score(id) = sum over lists of 1 / (k + rank), rank from 1; ties keep first-seen order."""
    scores: dict[str, float] = {}
    for ranking in lists:
        for rank, pid in enumerate(ranking, start=1):
            scores[pid] = scores.get(pid, 0.0) + 1.0 / (k + rank)
    return sorted(scores, key=lambda pid: -scores[pid])[:depth]


def _base_bm25(run: CatalogueRun) -> list[list[str]]:
    """The strongest simple peer: multilingual-e5-small dense + BM25 fused by RRF (what a Qdrant user builds first)."""
    k = (run.settings or get_settings()).rrf_k
    return [rrf_fuse(pair, k) for pair in zip(run.rankings("base"), run.rankings("bm25"), strict=True)]


def market_positions(products: Sequence[Product], queries: Sequence[Query]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(candidate product positions, query positions) per query language: its products plus English ones."""
    by_language: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(queries):
        by_language[q.language].append(i)
    return [
        (
            np.array([i for i, p in enumerate(products) if p.language in (lang, "en")], dtype=np.int64),
            np.array(positions, dtype=np.int64),
        )
        for lang, positions in by_language.items()
    ]


def dense_rankings(
    products: Sequence[Product],
    markets: Sequence[tuple[np.ndarray, np.ndarray]],
    passage_vectors: np.ndarray,
    query_vectors: np.ndarray,
) -> list[list[str]]:
    """Top-``DEPTH`` product ids per query by exact cosine (unit vectors) over its market's candidates."""
    ranked: list[list[str]] = [[] for _ in range(len(query_vectors))]
    for candidates, query_positions in markets:
        market = passage_vectors[candidates]
        for start in range(0, len(query_positions), 1024):  # bounds the score matrix on a large catalogue
            chunk = query_positions[start : start + 1024]
            top = np.argsort(-(query_vectors[chunk] @ market.T), axis=1, kind="stable")[:, :DEPTH]
            for q, row in zip(chunk, top, strict=True):
                ranked[q] = [products[candidates[j]].id for j in row]
    return ranked


def _hybrid_lists(run: CatalogueRun) -> list:
    """Arca's hybrid candidates per query (dense + lexical, RRF in Qdrant Edge), as the API retrieves them."""
    if "_hybrid" not in run._rankings:
        from app.query.synonyms import Synonyms
        from model.training.lasr.data import candidate_lists

        if run.catalogue_path is None:
            raise ValueError("hybrid systems need the catalogue file (CatalogueRun.catalogue_path)")
        s = run.settings or get_settings()
        run._rankings["_hybrid"] = candidate_lists(
            run.catalogue_path,
            run.passages,
            run.vectors("arca", "passage"),
            run.encoders["arca"],
            [(q.text, q.language) for q in run.queries],
            run.vectors("arca", "query"),
            DEPTH,
            s.prefetch,
            s.rrf_k,
            progress=run.embedder.progress,
            spell=s.spell_correct,
            spell_dense_side=s.spell_dense,
            translate=s.translate_queries,
            synonyms=Synonyms.load(s.synonyms_path),
            catalogue_vocabulary=s.catalogue_vocabulary,
            product_lexicon=s.product_lexicon,
        )
    return run._rankings["_hybrid"]


def _hybrid(run: CatalogueRun) -> list[list[str]]:
    return [c.ids for c in _hybrid_lists(run)]


def _hybrid_lasr(run: CatalogueRun) -> list[list[str]]:
    """LaSR over the top ``rerank_candidates`` of the hybrid list, with the query language detected from the text
    (no client hint), the rest of the list after them."""
    from app.query.langid import LanguageDetector
    from model.lasr.candidates import CandidateList
    from model.lasr.reranker import Reranker

    s = run.settings or get_settings()
    reranker = Reranker.load(s.lasr_checkpoint, run.encoders["arca"].fingerprint)
    detector = LanguageDetector()
    n = s.rerank_candidates
    out = []
    for q, c in zip(run.queries, _hybrid_lists(run), strict=True):
        head = CandidateList(
            c.query, c.ids[:n], c.vectors[:n], c.languages[:n], c.dense[:n], c.lexical[:n], c.fused[:n]
        )
        order, _ = reranker.rerank(head, detector.detect(q.text).language)
        out.append([head.ids[i] for i in order] + c.ids[n:])
    return out


# name -> ranking function; a new system (e.g. a fusion of run.rankings("bm25") and run.rankings("arca")) is one entry
SYSTEMS: dict[str, Callable[[CatalogueRun], list[list[str]]]] = {
    "bm25": _bm25,
    "base": _dense("base"),
    "base+bm25": _base_bm25,
    "arca": _dense("arca"),
    "hybrid": _hybrid,
    "hybrid+lasr": _hybrid_lasr,
}


def _ordered(values: set[str], order: Sequence[str]) -> list[str]:
    return [v for v in order if v in values] + sorted(values - set(order))


def score_rankings(queries: Sequence[Query], rankings: Sequence[Sequence[str]]) -> dict:
    """``{lang | "all": {noise | "all": {"ndcg@10", "recall@10", "mrr"}}}``, means over queries (micro)."""
    groups: dict[tuple[str, str], list[tuple[float, float, float]]] = defaultdict(list)
    for query, ranking in zip(queries, rankings, strict=True):
        scores = (
            ndcg_at_k(ranking, query.relevant, K),
            recall_at_k(ranking, query.relevant, K),
            reciprocal_rank(ranking, query.relevant),
        )
        for lang in (query.language, ALL):
            for noise in (query.noise, ALL):
                groups[lang, noise].append(scores)
    langs = _ordered({q.language for q in queries}, LANGUAGES) + [ALL]
    noises = _ordered({q.noise for q in queries}, NOISE_ORDER) + [ALL]
    return {
        lang: {
            noise: dict(zip(METRICS, (round(float(m), 4) for m in np.mean(groups[lang, noise], axis=0)), strict=True))
            for noise in noises
            if (lang, noise) in groups
        }
        for lang in langs
    }


def recall_ceiling(queries: Sequence[Query]) -> float:
    """Mean Recall@K of a perfect ranking, to read Recall@K against."""
    sizes = [sum(g >= 1 for g in q.relevant.values()) for q in queries]
    return float(np.mean([min(K, n) / n for n in sizes]))


def query_counts(queries: Sequence[Query]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for q in queries:
        for lang in (q.language, ALL):
            for noise in (q.noise, ALL):
                counts[lang, noise] += 1
    return counts


def catalogue_markdown(results: Mapping, counts: Mapping[tuple[str, str], int], split: str, header: str) -> str:
    """Per language (with the macro mean over languages) and per noise type nDCG@10 for every system, the deltas the
    targets are about (arca − base, hybrid+lasr − arca, hybrid+lasr − base+bm25) in points, and an all-query
    summary."""
    systems = list(results)
    pairs = (("arca", "base"), ("hybrid+lasr", "arca"), ("hybrid+lasr", "base+bm25"))
    deltas = [(a, b) for a, b in pairs if a in results and b in results]

    def table(first: str, keys: Sequence[tuple[str, str]]) -> list[str]:
        cols = [first, "queries", *systems, *(f"Δ {a}−{b}" for a, b in deltas)]
        out = ["| " + " | ".join(cols) + " |", "|---|" + "--:|" * (len(cols) - 1)]
        for lang, noise in keys:
            ndcg = {s: 100 * results[s][lang][noise]["ndcg@10"] for s in systems}
            label = lang if first == "language" else noise
            cells = [f"**{label}**" if label == ALL else label, str(counts[lang, noise])]
            cells += [f"{ndcg[s]:.1f}" for s in systems]
            cells += [f"{ndcg[a] - ndcg[b]:+.1f}" for a, b in deltas]
            out.append("| " + " | ".join(cells) + " |")
        if first == "language":  # the macro mean: every market counts the same, whatever its number of queries
            langs = [lang for lang, _ in keys if lang != ALL]
            macro = {s: 100 * float(np.mean([results[s][lang][ALL]["ndcg@10"] for lang in langs])) for s in systems}
            cells = ["mean of languages", ""] + [f"{macro[s]:.1f}" for s in systems]
            cells += [f"{macro[a] - macro[b]:+.1f}" for a, b in deltas]
            out.append("| " + " | ".join(cells) + " |")
        return out

    first = results[systems[0]]
    lines = [f"# Catalogue retrieval, `{split}` split", "", header, "", "## nDCG@10 per language", ""]
    lines += table("language", [(lang, ALL) for lang in first])
    lines += ["", "## nDCG@10 per noise type (all languages)", ""]
    lines += table("noise", [(ALL, noise) for noise in first[ALL]])
    lines += ["", "## All queries", "", "| system | nDCG@10 | Recall@10 | MRR |", "|---|--:|--:|--:|"]
    for s in systems:
        lines.append(f"| {s} | " + " | ".join(f"{100 * results[s][ALL][ALL][m]:.1f}" for m in METRICS) + " |")
    return "\n".join(lines) + "\n"


def catalogue_chart(results: Mapping, path: Path, title: str) -> None:
    """Grouped nDCG@10 bars: per language (top panel) and per noise type over all languages (bottom panel)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = list(results)
    first = results[systems[0]]
    panels = [("per language", [(lang, ALL) for lang in first]), ("per noise type", [(ALL, n) for n in first[ALL]])]
    fig, axes = plt.subplots(2, 1, figsize=(12, 8), constrained_layout=True)
    width = 0.8 / len(systems)
    for ax, (label, keys) in zip(axes, panels, strict=True):
        x = np.arange(len(keys))
        for i, s in enumerate(systems):
            ax.bar(
                x + (i - (len(systems) - 1) / 2) * width, [results[s][a][b]["ndcg@10"] for a, b in keys], width, label=s
            )
        ax.set_xticks(x, [b if a == ALL else a for a, b in keys])
        ax.set_ylim(0, 1)
        ax.set_ylabel("nDCG@10")
        ax.set_title(f"{title}: nDCG@10 {label}")
        ax.grid(axis="y", alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncols=len(systems))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def evaluate_catalogue(run: CatalogueRun, systems: Sequence[str]) -> tuple[dict, dict[str, float]]:
    """Scores per system and the seconds each took (encoding included, cache hits make reruns fast)."""
    results, seconds = {}, {}
    for name in systems:
        start = time.perf_counter()
        results[name] = score_rankings(run.queries, run.rankings(name))
        seconds[name] = time.perf_counter() - start
    return results, seconds


# ------------------------------------------------------------------------------------------------ CLI


def _parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m model.evaluation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    pairs = sub.add_parser("pairs", help="bitext top-1 accuracy xx→en and en→xx, arca vs base")
    pairs.add_argument("--data", type=Path, required=True, help="directory of LANG.tsv files (English<TAB>other)")
    pairs.add_argument("--json", type=Path, help="also write the scores (fractions) as JSON here")
    pairs.add_argument("--limit", type=int, help="use only the first N valid pairs of each file")
    pairs.add_argument(
        "--query-tower",
        choices=("full", "distilled"),
        default="full",
        help="Arca's encoder for both sides: full = the 12-layer model (default: this measures the "
        "encoder itself); distilled = the query tower that serves search queries",
    )
    cat = sub.add_parser("catalogue", help="nDCG@10 / Recall@10 / MRR on the judged catalogue queries")
    cat.add_argument(
        "--split", choices=("train", "dev", "test"), default="test", help="tune on dev, report test (default)"
    )
    cat.add_argument("--out", type=Path, default=OUT_DIR, help="where catalogue_<split>.{json,md,png} go")
    cat.add_argument(
        "--catalogue",
        type=Path,
        default=settings.catalogue_path,
        help="products JSONL; queries.<split>.jsonl is read from the same directory",
    )
    cat.add_argument(
        "--systems",
        default=None,
        help=f"comma-separated subset of {', '.join(SYSTEMS)} (default: all; hybrid+lasr is left out "
        "with a warning when no LaSR checkpoint fits the Arca encoder)",
    )
    for p in (pairs, cat):
        p.add_argument("--batch-size", type=int, default=settings.batch_size)
        p.add_argument("--no-progress", action="store_true")
    return parser


def _run_pairs(args: argparse.Namespace, settings: Settings, embedder: Embedder) -> int:
    pairs = read_pair_dir(args.data, args.limit)
    start = time.perf_counter()
    encoders = load_encoders(settings.model_copy(update={"query_tower": args.query_tower}))
    loaded = time.perf_counter()
    result = evaluate_pairs(pairs, encoders, embedder)
    done = time.perf_counter()
    if note := _same_model_note(encoders):
        print(f"note: {note}")
    tower = "" if args.query_tower == "full" else f", Arca through its query tower ({encoders['arca'].model_id})"
    print(f"Bitext top-1 accuracy (%) on {args.data}, E5 'query' prefix on both sides{tower}\n")
    print(pairs_table(result, {lang: len(en) for lang, (en, _) in pairs.items()}))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    print(f"time: load encoders {loaded - start:.1f} s, encode + score {done - loaded:.1f} s", file=sys.stderr)
    return 0


def _run_catalogue(args: argparse.Namespace, settings: Settings, embedder: Embedder) -> int:
    systems = [s.strip() for s in (args.systems or ",".join(SYSTEMS)).split(",") if s.strip()]
    if unknown := [s for s in systems if s not in SYSTEMS]:
        print(f"error: unknown system(s) {', '.join(unknown)}; known: {', '.join(SYSTEMS)}", file=sys.stderr)
        return 2
    queries_path = args.catalogue.parent / f"queries.{args.split}.jsonl"
    for path in (args.catalogue, queries_path):
        if not path.exists():
            print(f"error: {path} not found", file=sys.stderr)
            return 2
    report = read_catalogue(args.catalogue)
    if report.errors:
        _warn(f"{args.catalogue}: skipped {report.skipped} bad row(s), first: {report.errors[0]}")
    queries = read_queries(queries_path, {p.id for p in report.products})
    if not queries:
        print(f"error: no usable query in {queries_path}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    # every system but the lexical one needs the models; loading them is timed apart from the systems
    encoders = load_encoders(settings) if any(s != "bm25" for s in systems) else {}
    loaded = time.perf_counter() - start
    if args.systems is None and "hybrid+lasr" in systems:
        from model.lasr.reranker import Reranker, RerankerLoadError

        try:
            Reranker.load(settings.lasr_checkpoint, encoders["arca"].fingerprint)
        except RerankerLoadError as exc:
            _warn(f"hybrid+lasr left out: {exc}")
            systems.remove("hybrid+lasr")
    run = CatalogueRun(report.products, queries, encoders, embedder, report.sha256, args.catalogue, settings)
    results, seconds = evaluate_catalogue(run, systems)

    notes = [
        f"{len(queries)} queries, {len(report.products)} products (catalogue sha256 {report.sha256[:12]}). "
        "Candidates for a query: the products in its language plus the English products (its market's catalogue). "
        f"Scores in points (x100); MRR counts the first relevant product within the top {DEPTH}. "
        f"Recall@10 of a perfect ranking here: {100 * recall_ceiling(queries):.1f} (queries with more than {K} "
        "relevant products cannot reach 100)."
    ]
    if note := _same_model_note(encoders):
        notes.append(f"**Note:** {note}.")
    markdown = catalogue_markdown(results, query_counts(queries), args.split, "\n\n".join(notes))
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"catalogue_{args.split}"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown)
    catalogue_chart(results, stem.with_suffix(".png"), f"catalogue {args.split}")
    print(markdown)
    print(f"wrote {stem}.json, .md, .png")
    timings = ", ".join(f"{s} {t:.1f} s" for s, t in seconds.items())
    print(f"time: load encoders {loaded:.1f} s, {timings} (encoding included)", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    args = _parser(settings).parse_args(argv)
    settings = settings.model_copy(update={"batch_size": args.batch_size})
    embedder = Embedder(CACHE_DIR, args.batch_size, progress=not args.no_progress)
    if args.command == "pairs":
        return _run_pairs(args, settings, embedder)
    return _run_catalogue(args, settings, embedder)


if __name__ == "__main__":
    sys.exit(main())
