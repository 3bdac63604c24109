"""The evaluator, with hand-computed expectations and fake encoders: fast and independent of the real model."""

from __future__ import annotations

import json
import math
import unicodedata
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from core.text import tokenize
from model.evaluation import evaluate
from model.evaluation.bm25 import BM25Index
from model.evaluation.metrics import ndcg_at_k, recall_at_k, reciprocal_rank

GRADES = {"a": 3, "b": 2, "c": 1, "z": 0}
IDEAL = 3 + 2 / math.log2(3) + 1 / math.log2(4)


# ------------------------------------------------------------------------------------------- metrics


def test_perfect_ranking_scores_one() -> None:
    assert ndcg_at_k(["a", "b", "c"], GRADES) == pytest.approx(1.0)
    assert recall_at_k(["a", "b", "c"], GRADES) == 1.0
    assert reciprocal_rank(["a", "b", "c"], GRADES) == 1.0


def test_worst_ranking_scores_zero() -> None:
    ranking = ["x", "z", "y"]  # "z" is judged but grade 0: not relevant
    assert ndcg_at_k(ranking, GRADES) == 0.0
    assert recall_at_k(ranking, GRADES) == 0.0
    assert reciprocal_rank(ranking, GRADES) == 0.0


def test_graded_ndcg_recall_mrr_by_hand() -> None:
    ranking = ["x", "c", "b", "a"]
    dcg = 1 / math.log2(3) + 2 / math.log2(4) + 3 / math.log2(5)
    assert ndcg_at_k(ranking, GRADES) == pytest.approx(dcg / IDEAL)  # 0.6138...
    assert ndcg_at_k(ranking, GRADES) == pytest.approx(0.61383, abs=1e-5)
    assert recall_at_k(["x", "b"], GRADES) == pytest.approx(1 / 3)
    assert reciprocal_rank(ranking, GRADES) == 0.5


def test_ideal_counts_unretrieved_relevant() -> None:
    # only "a" retrieved: DCG 3 against an ideal that also holds b and c
    assert ndcg_at_k(["a"], GRADES) == pytest.approx(3 / IDEAL)


def test_cutoff_at_k() -> None:
    ranking = [f"f{i}" for i in range(10)] + ["a"]
    assert ndcg_at_k(ranking, GRADES) == 0.0
    assert recall_at_k(ranking, GRADES) == 0.0
    assert reciprocal_rank(ranking, GRADES) == pytest.approx(1 / 11)  # MRR is not cut at 10
    many = {f"r{i}": 1 for i in range(12)}
    assert ndcg_at_k(list(many), many) == pytest.approx(1.0)  # ideal truncated at k too
    assert recall_at_k(list(many), many) == pytest.approx(10 / 12)


def test_query_without_relevant_is_an_error() -> None:
    for metric in (ndcg_at_k, recall_at_k, reciprocal_rank):
        with pytest.raises(ValueError):
            metric(["a"], {"a": 0})


# ---------------------------------------------------------------------------------------------- bm25


def test_tokenize_keeps_marks_and_segments_thai() -> None:
    assert tokenize("আমাদের এখন") == ["আমাদের", "এখন"]  # bm25s' \w would split at every vowel sign
    assert tokenize("รองเท้าวิ่ง") == ["รองเท้า", "วิ่ง"]
    assert tokenize(unicodedata.normalize("NFD", "Giày iPhone-15")) == ["giày", "iphone", "15"]


def test_bm25_returns_only_matching_documents() -> None:
    index = BM25Index(["red cotton shirt", "blue shoes", "cotton socks"])
    assert index.search("cotton shirt", 10).tolist() == [0, 2]
    assert index.search("unknown", 10).tolist() == []
    assert index.search("   ", 10).tolist() == []


# --------------------------------------------------------------------------------------------- pairs


class TableEncoder:
    """One-hot vector per text from a table; English texts optionally tilted off-axis by a shared direction."""

    dim = 16

    def __init__(self, fingerprint: str, table: dict[str, int], tilt: float = 0.0) -> None:
        self.model_id = f"fake-{fingerprint}"
        self.fingerprint = fingerprint
        self.table = table
        self.tilt = tilt
        self.kinds: set[str] = set()

    def encode(self, texts: Sequence[str], kind="passage", batch_size=None, progress=False) -> np.ndarray:
        self.kinds.add(kind)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i, self.table[text]] = 1.0
            if text.startswith("english"):
                out[i, -1] = self.tilt
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _pair_dir(tmp_path: Path) -> Path:
    data = tmp_path / "pairs"
    data.mkdir()
    (data / "aa.tsv").write_text("".join(f"english {i}\taa {i}\n" for i in range(6)), encoding="utf-8")
    bad = "no tab here\nx\ty\tz\n\tother only\n  \t \n"
    lines = [f"english {i}\tbb {i}\n" for i in range(6)]
    (data / "bb.tsv").write_bytes(("".join(lines[:3]) + bad + "".join(lines[3:])).encode() + b"\xff\xfe\tbad\n")
    return data


def _pair_encoders() -> dict[str, TableEncoder]:
    table = {f"english {i}": i for i in range(6)} | {f"aa {i}": i for i in range(6)}
    swapped = [1, 0, 3, 2, 4, 5]  # base confuses lines 0<->1 and 2<->3 of bb: 2 of 6 right, both directions
    return {
        "arca": TableEncoder("a1", table | {f"bb {i}": i for i in range(6)}, tilt=1.0),
        "base": TableEncoder("b2", table | {f"bb {i}": swapped[i] for i in range(6)}),
    }


def test_read_pairs_skips_malformed_lines(tmp_path: Path, capsys) -> None:
    english, other = evaluate.read_pairs(_pair_dir(tmp_path) / "bb.tsv")
    assert english == [f"english {i}" for i in range(6)]
    assert other == [f"bb {i}" for i in range(6)]
    err = capsys.readouterr().err
    assert "skipped 5 malformed line(s)" in err and "line 4, 5, 6, 7, 11" in err
    assert evaluate.read_pairs(tmp_path / "pairs" / "bb.tsv", limit=4)[0] == [f"english {i}" for i in range(4)]


def test_bitext_top1_counts_duplicate_text_as_hit() -> None:
    sims = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=np.float32)
    assert evaluate.bitext_top1(sims, ["a", "b", "a"]) == 1.0
    assert evaluate.bitext_top1(sims, ["a", "b", "c"]) == pytest.approx(1 / 3)


def test_pairs_cli_accuracy_cosine_and_json_shape(tmp_path: Path, monkeypatch, capsys) -> None:
    encoders = _pair_encoders()
    monkeypatch.setattr(evaluate, "load_encoders", lambda settings: encoders)
    monkeypatch.setattr(evaluate, "CACHE_DIR", tmp_path / "cache")
    out = tmp_path / "out" / "pairs.json"
    assert evaluate.main(["pairs", "--data", str(_pair_dir(tmp_path)), "--json", str(out), "--no-progress"]) == 0

    result = json.loads(out.read_text())
    assert list(result) == ["arca", "base", "english_cosine_arca_vs_base"]
    for system in ("arca", "base"):
        assert list(result[system]) == ["aa", "bb"]
        assert all(list(scores) == ["xx2en", "en2xx"] for scores in result[system].values())
    assert result["arca"]["bb"] == {"xx2en": 1.0, "en2xx": 1.0}
    assert result["base"]["aa"] == {"xx2en": 1.0, "en2xx": 1.0}
    assert result["base"]["bb"] == {"xx2en": 0.3333, "en2xx": 0.3333}
    assert result["english_cosine_arca_vs_base"] == pytest.approx(1 / math.sqrt(2), abs=1e-4)
    assert all(e.kinds == {"query"} for e in encoders.values())

    printed = capsys.readouterr().out
    mean_row = next(line for line in printed.splitlines() if line.startswith("mean"))
    assert mean_row.split() == ["mean", "100.0", "66.7", "+33.3", "100.0", "66.7", "+33.3"]
    assert "BELOW TARGET" in printed


def test_pairs_same_model_is_reported(tmp_path: Path, monkeypatch, capsys) -> None:
    base = _pair_encoders()["base"]
    monkeypatch.setattr(evaluate, "load_encoders", lambda settings: {"arca": base, "base": base})
    monkeypatch.setattr(evaluate, "CACHE_DIR", tmp_path / "cache")
    assert evaluate.main(["pairs", "--data", str(_pair_dir(tmp_path)), "--no-progress"]) == 0
    assert "arca and base are the same model" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------- catalogue


class HashEncoder:
    """Bag of hashed words: deterministic, and similar texts get similar vectors."""

    dim = 32

    def __init__(self, fingerprint: str) -> None:
        self.model_id = f"hash-{fingerprint}"
        self.fingerprint = fingerprint
        self.calls: list[tuple[str, int]] = []

    def encode(self, texts: Sequence[str], kind="passage", batch_size=None, progress=False) -> np.ndarray:
        self.calls.append((kind, len(texts)))
        out = np.full((len(texts), self.dim), 1e-3, dtype=np.float32)
        for i, text in enumerate(texts):
            for word in tokenize(text):
                out[i, zlib.crc32(f"{self.fingerprint}{word}".encode()) % self.dim] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


PRODUCTS = [
    ("vi1", "vi", "Áo thun nam cotton"),
    ("vi2", "vi", "Giày chạy bộ nữ"),
    ("en1", "en", "Men's cotton t-shirt"),
    ("th1", "th", "เสื้อยืดผู้ชาย"),
    ("th2", "th", "รองเท้าวิ่ง"),
]
QUERIES = [
    ("q1", "vi", "clean", "áo thun nam", {"vi1": 3, "en1": 2}),
    ("q2", "vi", "no_diacritics", "giay chay bo", {"vi2": 3}),
    ("q3", "th", "clean", "รองเท้าวิ่ง", {"th2": 3}),
    ("q4", "th", "cross_lingual_en", "cotton t-shirt", {"en1": 3}),
]
Q1_NDCG = 3 / (3 + 2 / math.log2(3))


def _catalogue(tmp_path: Path) -> Path:
    root = tmp_path / "catalogue"
    root.mkdir()
    rows = [
        {"id": i, "language": lang, "title": title, "category": "Fashion > Tops", "price": 10.0, "currency": "USD"}
        for i, lang, title in PRODUCTS
    ]
    (root / "products.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    queries = [
        {"id": i, "language": lang, "noise": noise, "text": text, "relevant": rel}
        for i, lang, noise, text, rel in QUERIES
    ]
    unjudged = json.dumps({**queries[0], "id": "q5", "relevant": {"vi1": 0}})
    lines = [json.dumps(q, ensure_ascii=False) for q in queries] + ["{not json", unjudged, json.dumps(queries[1])]
    (root / "queries.test.jsonl").write_text("\n".join(lines) + "\n")
    return root / "products.jsonl"


def test_read_queries_skips_bad_rows(tmp_path: Path, capsys) -> None:
    _catalogue(tmp_path)
    queries = evaluate.read_queries(tmp_path / "catalogue" / "queries.test.jsonl", {"vi1", "vi2", "th2"})
    assert [q.id for q in queries] == ["q1", "q2", "q3", "q4"]
    err = capsys.readouterr().err
    assert "skipped 2 malformed or repeated row(s)" in err and "line 7: duplicate id 'q2'" in err
    assert "skipped 1 query(ies) with no relevant product: q5" in err
    assert "1 judged product id(s) are not in the catalogue" in err


def test_markets_restrict_candidates_to_language_plus_english(tmp_path: Path) -> None:
    from core.catalogue import read_catalogue

    report = read_catalogue(_catalogue(tmp_path))
    queries = evaluate.read_queries(tmp_path / "catalogue" / "queries.test.jsonl", {p.id for p in report.products})
    encoders = {"arca": HashEncoder("a"), "base": HashEncoder("b")}
    run = evaluate.CatalogueRun(
        report.products, queries, encoders, evaluate.Embedder(tmp_path / "cache", progress=False), report.sha256
    )
    assert run.rankings("bm25") == [["vi1"], [], ["th2"], ["en1"]]  # vi1 also says "cotton", but is not in th market
    for ranking, query in zip(run.rankings("base"), queries, strict=True):
        allowed = {p.id for p in report.products if p.language in (query.language, "en")}
        assert set(ranking) == allowed  # dense ranks every candidate of the market, nothing else


def test_catalogue_cli_end_to_end(tmp_path: Path, monkeypatch, capsys) -> None:
    encoders = {"arca": HashEncoder("a"), "base": HashEncoder("b")}
    monkeypatch.setattr(evaluate, "load_encoders", lambda settings: encoders)
    monkeypatch.setattr(evaluate, "CACHE_DIR", tmp_path / "cache")
    out = tmp_path / "out"
    argv = [
        "catalogue",
        "--catalogue",
        str(_catalogue(tmp_path)),
        "--out",
        str(out),
        "--no-progress",
        "--systems",
        "bm25,base,arca",
    ]
    assert evaluate.main(argv) == 0

    results = json.loads((out / "catalogue_test.json").read_text())
    assert list(results) == ["bm25", "base", "arca"]
    for system in results.values():
        assert list(system) == ["vi", "th", "all"]
        assert list(system["vi"]) == ["clean", "no_diacritics", "all"]
        assert list(system["th"]) == ["clean", "cross_lingual_en", "all"]
        assert list(system["all"]) == ["clean", "no_diacritics", "cross_lingual_en", "all"]
        assert all(list(m) == ["ndcg@10", "recall@10", "mrr"] for lang in system.values() for m in lang.values())
    bm25 = results["bm25"]
    assert bm25["vi"]["clean"] == pytest.approx({"ndcg@10": Q1_NDCG, "recall@10": 0.5, "mrr": 1.0}, abs=1e-4)
    assert bm25["vi"]["no_diacritics"] == {"ndcg@10": 0.0, "recall@10": 0.0, "mrr": 0.0}
    assert bm25["th"]["all"] == {"ndcg@10": 1.0, "recall@10": 1.0, "mrr": 1.0}
    assert bm25["all"]["all"] == pytest.approx(
        {"ndcg@10": (Q1_NDCG + 2) / 4, "recall@10": 0.625, "mrr": 0.75}, abs=1e-4
    )

    markdown = (out / "catalogue_test.md").read_text()
    assert "| language | queries | bm25 | base | arca | Δ arca−base |" in markdown
    assert "| cross_lingual_en | 1 |" in markdown
    assert "Recall@10 of a perfect ranking here: 100.0" in markdown
    assert markdown in capsys.readouterr().out
    assert (out / "catalogue_test.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert evaluate.main(argv) == 0  # rerun: every embedding comes from the cache
    assert all(len(e.calls) == 2 for e in encoders.values())


def test_rrf_fuse_sums_reciprocal_ranks() -> None:
    from model.evaluation.evaluate import rrf_fuse

    # b: 1/(60+2) + 1/(60+1) beats a: 1/(60+1) + nothing; c and d each appear once, lower
    assert rrf_fuse([["a", "b", "c"], ["b", "d"]], k=60) == ["b", "a", "d", "c"]
    assert rrf_fuse([["a", "b"], ["b", "a"]], k=60, depth=1) == ["a"]  # a tie keeps the first-seen order
