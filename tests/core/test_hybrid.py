"""Hybrid search (dense + lexical sparse, fused by RRF in the engine) on every engine: the engines agree with each
other and with a numpy reference of Qdrant's BM25-IDF and RRF, and typed model numbers match exactly."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from core.lexical import document_vector, query_vector
from core.store.base import Filters, IndexVersion, Sparse, VectorStore
from tests.core.stores import DIM, ENGINES, make_store

TITLES = [
    ("en", "Samsung Galaxy A54 5G 128GB Black"),
    ("en", "Samsung Galaxy A34 5G 128GB Black"),
    ("en", "Samsung Galaxy A55 5G 256GB Blue"),
    ("vi", "Điện Thoại Samsung Galaxy A54 5G 256GB Trắng"),
    ("vi", "Giày thể thao nữ Nike Air Zoom size 38"),
    ("vi", "Giày da nam Biti's công sở"),
    ("th", "โทรศัพท์ Samsung Galaxy A54 สีดำ"),
    ("th", "รองเท้าวิ่ง Nike สีขาว"),
    ("en", "Apple iPhone 15 128GB Pink"),
    ("en", "Apple iPhone 14 128GB Midnight"),
    ("en", "Apple iPhone 15 Pro Max case silicone"),
    ("id", "Sepatu Lari Pria Adidas Hitam"),
    ("ms", "Kasut Sukan Wanita Adidas Putih"),
    ("tl", "Sapatos na Pantakbo Nike Itim"),
    ("bn", "স্যামসাং Galaxy A54 5G স্মার্টফোন 64GB"),
    ("ur", "سام سنگ Galaxy A54 موبائل فون"),
] + [("en", f"Generic accessory item number {i}") for i in range(40)]

PREFETCH = 20
RRF_K = 60


@pytest.fixture(scope="module")
def corpus():
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(len(TITLES), DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"h{i:03d}" for i in range(len(TITLES))]
    payloads = [
        {"language": lang, "category_prefixes": ["Electronics"], "price": 10.0 + i, "title": t}
        for i, (lang, t) in enumerate(TITLES)
    ]
    return ids, vectors, payloads, [document_vector(t) for _, t in TITLES]


@pytest.fixture(scope="module")
def hybrid_stores(tmp_path_factory, corpus):
    ids, vectors, payloads, sparse = corpus
    stores: dict[str, VectorStore] = {}
    for engine in ENGINES:
        store = make_store(engine, tmp_path_factory.mktemp(f"hybrid-{engine}"))
        version = IndexVersion.new("testmodel", "beef")
        store.create_version(version, DIM)
        store.upsert(version, ids, vectors, payloads, sparse)
        store.finalize(version)
        store.activate(version)
        stores[engine] = store
    yield stores
    for store in stores.values():
        store.close()


def reference(corpus, query_vec: np.ndarray, text: str, languages=None) -> dict[str, tuple[float, float, float]]:
    """numpy: for every product that can be fused, (lowest, highest) possible RRF score and its BM25 score, from
    dense top-PREFETCH and BM25-IDF top-PREFETCH (Qdrant: idf = ln((N − n + .5)/(n + .5) + 1), RRF 1/(k + rank)
    with rank from 0; IDF over the whole collection). Products with equal BM25 scores may come in either order,
    hence a range."""
    ids, vectors, payloads, sparse = corpus
    keep = [i for i, p in enumerate(payloads) if not languages or p["language"] in languages]
    dense = sorted(keep, key=lambda i: -float(vectors[i] @ query_vec))[:PREFETCH]
    q = query_vector(text)
    # IDF comes from the whole collection, filter or not
    df = {int(t): sum(int(t) in set(v.indices.tolist()) for v in sparse) for t in q.indices}
    n = len(sparse)

    def bm25(i: int) -> float:
        doc = dict(zip(sparse[i].indices.tolist(), sparse[i].values.tolist(), strict=True))
        return sum(doc[t] * math.log((n - df[t] + 0.5) / (df[t] + 0.5) + 1) for t in df if t in doc)

    scores = {i: bm25(i) for i in keep}
    matched = sorted((s for s in scores.values() if s > 0), reverse=True)
    out = {}
    for i in set(dense) | {i for i in keep if scores[i] > 0}:
        lo = hi = 1.0 / (RRF_K + dense.index(i)) if i in dense else 0.0
        if scores[i] > 0:
            above = sum(s > scores[i] + 1e-6 for s in matched)
            tied = sum(abs(s - scores[i]) <= 1e-6 for s in matched)
            best, worst = above, above + tied - 1
            hi += 1.0 / (RRF_K + best) if best < PREFETCH else 0.0
            lo += 1.0 / (RRF_K + worst) if worst < PREFETCH else 0.0
        out[ids[i]] = (lo, hi, scores[i])
    return out


QUERIES = ["Samsung Galaxy A54", "galaxy a54 5g", "iphone 15", "giay the thao nu", "รองเท้า Nike", "adidas"]


@pytest.mark.parametrize("text", QUERIES)
@pytest.mark.parametrize("languages", [None, ("en", "vi")], ids=["all", "en+vi"])
def test_engines_agree_on_hybrid_results(hybrid_stores, corpus, text, languages) -> None:
    rng = np.random.default_rng(abs(hash(text)) % 2**32)
    qv = rng.normal(size=DIM).astype(np.float32)
    qv /= np.linalg.norm(qv)
    filters = Filters(languages=languages) if languages else None
    results = {
        e: s.hybrid_search(qv, query_vector(text), 10, filters, prefetch=PREFETCH, rrf_k=RRF_K)
        for e, s in hybrid_stores.items()
    }
    want = reference(corpus, qv, text, languages)
    for engine, hits in results.items():
        assert len(hits) == min(10, len(want)), engine
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        for h in hits:
            lo, hi, lexical = want[h.id]
            assert lo - 1e-6 <= h.score <= hi + 1e-6, (engine, h.id, h.score, lo, hi)
            if h.lexical is not None:
                assert h.lexical == pytest.approx(lexical, rel=1e-4), (engine, h.id)
            assert h.dense is not None and abs(h.dense - float(corpus[1][corpus[0].index(h.id)] @ qv)) < 1e-4
            assert h.vector is None  # not asked for
        # nothing left out was sure to beat the last hit
        assert all(lo <= hits[-1].score + 1e-6 for pid, (lo, _, _) in want.items() if pid not in {x.id for x in hits})
    # the engines may order equal BM25 scores differently (both within the reference's range, checked above);
    # products both return carry the same scores
    a, b = ({h.id: h for h in results[e]} for e in ENGINES)
    for pid in a.keys() & b.keys():
        assert a[pid].dense == pytest.approx(b[pid].dense, abs=1e-5)
        assert (a[pid].lexical is None) == (b[pid].lexical is None)
        if a[pid].lexical is not None:
            assert a[pid].lexical == pytest.approx(b[pid].lexical, rel=1e-4)
    assert len(a.keys() & b.keys()) >= len(a) - 2


@pytest.mark.parametrize("engine", ENGINES)
def test_a_typed_model_number_ranks_its_product_first_lexically(hybrid_stores, engine) -> None:
    store = hybrid_stores[engine]
    zero = np.zeros(DIM, dtype=np.float32)
    zero[0] = 1.0  # a dense query that favours nothing in particular
    for text, want in [
        ("Samsung Galaxy A54", "Samsung Galaxy A54 5G 128GB Black"),
        ("iPhone 15", "Apple iPhone 15 128GB Pink"),
    ]:
        hits = store.with_display_fields(
            store.hybrid_search(zero, query_vector(text), 5, Filters(languages=("en",)), prefetch=PREFETCH)
        )
        lexical = sorted((h for h in hits if h.lexical is not None), key=lambda h: -h.lexical)
        assert lexical[0].payload["title"] == want, [(h.payload["title"], h.lexical) for h in lexical]


@pytest.mark.parametrize("engine", ENGINES)
def test_hybrid_with_no_terms_is_the_dense_ranking(hybrid_stores, corpus, engine) -> None:
    qv = corpus[1][3]
    hits = hybrid_stores[engine].hybrid_search(
        qv, Sparse(np.empty(0, np.uint32), np.empty(0, np.float32)), 5, with_vectors=True
    )
    assert hits[0].id == corpus[0][3] and hits[0].lexical is None
    assert [h.id for h in hits] == [h.id for h in hybrid_stores[engine].search(qv, 5, exact=True)]
    assert hits[0].vector is not None and hits[0].vector.shape == (DIM,)


def test_diacritic_free_vietnamese_matches_lexically(hybrid_stores) -> None:
    qv = np.zeros(DIM, dtype=np.float32)
    qv[1] = 1.0
    for store in hybrid_stores.values():
        hits = store.with_display_fields(
            store.hybrid_search(qv, query_vector("giay the thao nu"), 3, Filters(languages=("vi",)))
        )
        best = max((h for h in hits if h.lexical), key=lambda h: h.lexical)
        assert best.payload["title"].startswith("Giày thể thao nữ")


@pytest.mark.parametrize("engine", ENGINES)
def test_hybrid_hits_carry_the_stored_vectors(hybrid_stores, corpus, engine) -> None:
    """What the reranker reads: every candidate's own vector (Edge: from its memory-mapped dense table)."""
    ids, vectors, _, _ = corpus
    store = hybrid_stores[engine]
    qv = vectors[3] + 0.3 * vectors[8]
    qv /= np.linalg.norm(qv)
    hits = store.hybrid_search(
        qv, query_vector("samsung galaxy a54"), 30, prefetch=PREFETCH, rrf_k=RRF_K, with_vectors=True
    )
    assert len(hits) >= 20
    for h in hits:
        assert h.vector is not None and h.vector.dtype == np.float32
        np.testing.assert_allclose(h.vector, vectors[ids.index(h.id)], atol=1e-5)
        assert h.dense == pytest.approx(float(vectors[ids.index(h.id)] @ qv), abs=1e-5)
        assert "_row" not in h.payload
    if engine == "edge":
        serving = store._open_serving()
        assert serving.dense is not None and serving.rows is not None  # the fast path is the one tested


def test_candidates_carry_language_and_the_shown_ones_every_display_field(hybrid_stores, corpus) -> None:
    """Edge reads a candidate's id and language from its row table, and the display fields of the shown hits
    only; whatever each engine defers, the shown hits end up alike."""
    ids, vectors, payloads, _ = corpus
    qv = vectors[3]
    shown = {}
    for engine, store in hybrid_stores.items():
        hits = store.hybrid_search(qv, query_vector("samsung galaxy a54"), 10, prefetch=PREFETCH, rrf_k=RRF_K)
        for h in hits:
            assert h.payload["id"] == h.id and h.payload["language"] == payloads[ids.index(h.id)]["language"]
        if engine == "edge":
            assert all(set(h.payload) == {"id", "language"} for h in hits)  # nothing else was read
        full = store.with_display_fields(hits[:5])
        assert [h.id for h in full] == [h.id for h in hits[:5]]
        for h in full:
            assert h.payload["title"] == payloads[ids.index(h.id)]["title"]
            assert h.payload["price"] == payloads[ids.index(h.id)]["price"]
            assert "_row" not in h.payload and "category_prefixes" not in h.payload
        shown[engine] = {h.id: h.payload for h in full}
    edge, local = shown["edge"], shown["local"]
    for pid in edge.keys() & local.keys():
        assert edge[pid] == local[pid]


def test_display_fields_leave_out_a_product_gone_from_the_serving_version(tmp_path, corpus) -> None:
    """The version moved between the search and the display read, without one of the candidates."""
    from core.store.edge import EdgeStore

    ids, vectors, payloads, sparse = corpus
    store = EdgeStore(tmp_path, "products")
    try:
        for n, version in enumerate([IndexVersion.new("testmodel", "a1"), IndexVersion.new("testmodel", "a2")]):
            keep = slice(0, None) if n == 0 else slice(1, None)  # the second version lacks ids[0]
            store.create_version(version, DIM)
            store.upsert(version, ids[keep], vectors[keep], payloads[keep], sparse[keep])
            store.finalize(version)
            if n == 0:
                store.activate(version)
                hits = store.hybrid_search(vectors[0], query_vector("samsung galaxy a54"), 5)
                assert hits[0].id == ids[0]
        store.activate(version)
        shown = store.with_display_fields(hits)
        assert [h.id for h in shown] == [h.id for h in hits[1:]]
        assert all("title" in h.payload for h in shown)
    finally:
        store.close()


@pytest.mark.parametrize("damage", ["truncated", "missing", "rows missing", "rows corrupt", "rows short"])
def test_edge_without_a_usable_dense_table_reads_vectors_from_the_engine(tmp_path, corpus, damage) -> None:
    """Served the slower way, from the engine's payloads (and vectors): same hits."""
    from core.store.edge import DENSE_FILE, ROWS_FILE, EdgeStore

    ids, vectors, payloads, sparse = corpus
    store = EdgeStore(tmp_path, "products")
    version = IndexVersion.new("testmodel", "cafe")
    store.create_version(version, DIM)
    store.upsert(version, ids, vectors, payloads, sparse)
    store.finalize(version)
    table = tmp_path / "products" / "versions" / str(version) / DENSE_FILE
    rows = table.with_name(ROWS_FILE)
    if damage == "truncated":
        table.write_bytes(table.read_bytes()[:1000])
    elif damage == "missing":
        table.unlink()
    elif damage == "rows missing":
        rows.unlink()
    elif damage == "rows corrupt":
        rows.write_text("{not json", encoding="utf-8")
    else:
        rows.write_text('{"ids": ["h000"], "languages": ["en"]}', encoding="utf-8")
    store.activate(version)
    try:
        hits = store.hybrid_search(vectors[5], query_vector("giày thể thao"), 10, with_vectors=True)
        serving = store._open_serving()
        assert serving.rows is None
        assert (serving.dense is None) == (damage in {"truncated", "missing"})
        assert hits[0].id == ids[5]
        for h in hits:
            np.testing.assert_allclose(h.vector, vectors[ids.index(h.id)], atol=1e-5)
            assert h.payload["title"] == payloads[ids.index(h.id)]["title"]  # read with the candidates
    finally:
        store.close()


def test_spelling_corrections_come_from_the_index_vocabulary(hybrid_stores) -> None:
    from app.query.spelling import Speller

    spellers = {e: Speller.from_store(s) for e, s in hybrid_stores.items()}
    for speller in spellers.values():
        assert speller.corrections("samsng galaxy a54") == {"samsng": "samsung"}
        assert speller.corrections("Giày thể thao nữ adiddas") == {"adiddas": "adidas"}
        assert speller.corrections("sepatu lari") == {}  # known words are left alone
        assert speller.corrections("iphone 15 case") == {}  # "case" is indexed; digits are never corrected
        assert speller.corrections("zzzzzz qqqq") == {}  # nothing within one edit: no guess
    assert spellers["edge"].words == spellers["local"].words


@pytest.mark.parametrize("engine", ENGINES)
def test_a_misspelt_brand_still_matches_lexically(hybrid_stores, engine) -> None:
    from app.query.spelling import Speller

    store = hybrid_stores[engine]
    speller = Speller.from_store(store)
    qv = np.zeros(DIM, np.float32)
    qv[0] = 1.0  # a dense vector that prefers nothing in particular
    plain = store.hybrid_search(qv, query_vector("adiddas"), 5, prefetch=PREFETCH, rrf_k=RRF_K)
    fixed = store.with_display_fields(
        store.hybrid_search(
            qv, query_vector("adiddas", speller.corrections("adiddas")), 5, prefetch=PREFETCH, rrf_k=RRF_K
        )
    )
    assert all(h.lexical is None for h in plain)  # the typo alone matches nothing lexically
    adidas = {h.payload["title"] for h in fixed if h.lexical is not None}
    assert adidas == {"Sepatu Lari Pria Adidas Hitam", "Kasut Sukan Wanita Adidas Putih"}


def test_the_dense_side_encodes_the_corrected_query_unless_romanised() -> None:
    from app.query.spelling import corrected_text, dense_correction

    assert corrected_text("Quạt đứng TRẮGN", {"trắgn": "trắng"}) == "Quạt đứng trắng"
    assert corrected_text("desks desk", {"desk": "disk"}) == "desks disk"  # whole words where there are words
    assert corrected_text("รองเท้าสีดาํ", {"สีดาํ": "สีดำ"}) == "รองเท้าสีดำ"  # Thai: no spaces, inside the run
    assert dense_correction("tai nghe bluetoth", {"bluetoth": "bluetooth"}, "vi") == "tai nghe bluetooth"
    assert dense_correction("tai nghe bluetooth", {}, "vi") is None  # nothing to correct
    # a Latin-script query in a market written in its own script is romanised: its unknown words are
    # transliterations, and their nearest indexed words are English look-alikes
    assert dense_correction("rong thao nang", {"thao": "that"}, "th") is None
    assert dense_correction("joota kaala", {"joota": "boot"}, "ur") is None
    assert dense_correction("রং নীলl", {"নীলl": "নীল"}, "bn") == "রং নীল"  # native script: corrected
    assert dense_correction("klong plastic", {"klong": "long"}, None) == "long plastic"  # unknown language...
    assert dense_correction("klong plastic", {"klong": "long"}, None, ("th", "en")) is None  # ...in a Thai market


def test_spelled_vector_is_the_unit_mean_direction() -> None:
    from app.retrieval.hybrid import spelled_vector

    a, b = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    assert np.allclose(spelled_vector(a, b), [2**-0.5, 2**-0.5])
    assert np.allclose(spelled_vector(a, a), a)


@pytest.mark.parametrize("engine", ENGINES)
def test_english_words_match_market_titles_through_the_lexicon(hybrid_stores, engine) -> None:
    """ "sports shoes" finds the Vietnamese "Giày thể thao…" listing lexically once its vi terms join the query."""
    from app.query.expansion import default_translator

    store = hybrid_stores[engine]
    qv = np.zeros(DIM, np.float32)
    qv[0] = 1.0  # a dense vector that prefers nothing in particular
    text, market = "sports shoes", ("vi", "en")
    plain = store.hybrid_search(qv, query_vector(text), 5, Filters(languages=market), prefetch=PREFETCH)
    assert all(h.lexical is None for h in plain)  # no English title says it, no Vietnamese word was typed
    expansions = default_translator().translations(text, market)
    assert expansions
    expanded = store.with_display_fields(
        store.hybrid_search(
            qv, query_vector(text, expansions=expansions), 5, Filters(languages=market), prefetch=PREFETCH
        )
    )
    matched = {h.payload["title"] for h in expanded if h.lexical is not None}
    assert "Giày thể thao nữ Nike Air Zoom size 38" in matched


def test_a_typo_inside_a_thai_run_is_corrected_whole() -> None:
    """Thai has no spaces: a typo splits PyThaiNLP's segmentation into fragments, so the run between spaces is
    corrected whole, against the runs of the catalogue's titles, and its terms join the lexical query."""
    from app.query.spelling import Speller, corrected_text
    from core.lexical import terms
    from core.text import thai_runs

    titles = ["หุ่นยนต์ดูดฝุ่น Xiaomi สีเทา", "รองเท้าคัชชู หนังแท้ สีดำ", "โทรศัพท์ Samsung Galaxy A54 สีดำ"]
    speller = Speller.from_texts(titles)
    assert thai_runs("หุ่นยนต์ดูดฝุ่น Xiaomi สีเทา") == ["หุ่นยนต์ดูดฝุ่น", "สีเทา"]
    fixes = speller.corrections("หุ่นยนต์ดูดฝุ่น สเีทา")  # a swapped vowel
    assert fixes == {"สเีทา": "สีเทา"}
    assert speller.corrections("รองท้าคัชชู สีีดำ") == {"รองท้าคัชชู": "รองเท้าคัชชู", "สีีดำ": "สีดำ"}
    assert corrected_text("รองท้าคัชชู สีีดำ", speller.corrections("รองท้าคัชชู สีีดำ")) == "รองเท้าคัชชู สีดำ"
    sparse = query_vector("หุ่นยนต์ดูดฝุ่น สเีทา", fixes)
    assert set(map(int, query_vector("สีเทา").indices)) <= set(map(int, sparse.indices))  # the run's own terms
    assert terms("สีเทา")  # (not the run as one unindexed term)
    assert speller.corrections("หุ่นยนต์ดูดฝุ่น สีเทา") == {}  # nothing to fix


def test_short_words_and_the_lexicon_words_are_corrected() -> None:
    """A 4-letter word with a letter dropped is 3 letters: looked up, but corrected only to an indexed word of 4+
    letters (3-letter targets are too many and too close). Words of the lexicon are known beside the titles' own."""
    from app.query.spelling import Speller

    titles = ["Áo phông nam Uniqlo trắng", "Tạ tay 5kg đen", "ڈمبل 5 کلو", "ผ้าห่ม สีดำ", "Máy tính bỏ túi Casio"]
    speller = Speller.from_texts(titles)
    assert speller.corrections("áo phôg trắng") == {"phôg": "phông"}  # one letter dropped
    assert speller.corrections("ڈمل") == {"ڈمل": "ڈمبل"}
    assert speller.corrections("máy tíh casio") == {"tíh": "tính"}
    assert speller.corrections("tạ tya") == {}  # "tay" has 3 letters: never a correction's target
    assert speller.corrections("ผ้าห่ม สีำ") == {"สีำ": "สีดำ"}  # a whole Thai run, under 4 letters too
    assert speller.corrections("کاغغذ") == {}  # not in any title
    with_lexicon = Speller.from_texts(titles, lexicon=["کاغذ", "اے فور پیپر"])
    assert with_lexicon.corrections("کاغغذ") == {"کاغغذ": "کاغذ"}
    assert with_lexicon.corrections("کاغذ") == {}  # a lexicon word is known as typed
    assert with_lexicon.corrections("áo phôg trắng") == {"phôg": "phông"}  # titles' words outrank the lexicon's


def test_training_and_evaluation_lists_get_the_dense_query_the_api_makes() -> None:
    """``spell_dense`` (LaSR's lists, the evaluator): a misspelt query's vector is the mean direction with its
    corrected text; a query with English words, searched in its market, is pulled towards the market's names for
    them; each name is encoded once for all queries."""
    from app.query.expansion import QueryTranslator, with_market_names
    from app.retrieval.hybrid import spelled_vector
    from model.training.lasr.data import spell_dense

    class Recorder:
        def __init__(self) -> None:
            self.batches: list[list[str]] = []

        def encode(self, texts, kind="query"):
            self.batches.append(list(texts))
            return np.stack(
                [np.random.default_rng(zlib.crc32(t.encode())).normal(size=8).astype(np.float32) for t in texts]
            )

    translator = QueryTranslator(
        [("en", "socks", "socks"), ("vi", "tất", "socks"), ("en", "black", "black"), ("vi", "đen", "black")]
    )
    queries = [("tất đen", "vi"), ("socks đen", "vi"), ("black socks", "vi"), ("tât đenn", "vi")]
    enc = Recorder()
    base = enc.encode([q for q, _ in queries])
    enc.batches.clear()
    out = spell_dense(enc, queries, base, [{}, {}, {}, {"đenn": "đen"}], translator)  # type: ignore[arg-type]
    assert enc.batches == [["tât đen"], ["tất", "đen"]]  # the corrected text, then each name once
    fixed, tat, den = enc.encode(["tât đen"]), *enc.encode(["tất", "đen"])
    np.testing.assert_allclose(out[0], base[0])  # in the market's words: unchanged
    np.testing.assert_allclose(out[1], with_market_names(base[1], [tat]), atol=1e-6)
    np.testing.assert_allclose(out[2], with_market_names(base[2], [den, tat]), atol=1e-6)
    np.testing.assert_allclose(out[3], spelled_vector(base[3], fixed[0]), atol=1e-6)
