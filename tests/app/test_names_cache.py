"""The market names' vectors kept between starts are keyed by everything that shapes a query vector."""

from __future__ import annotations

from types import SimpleNamespace

from app.search import names_cache_path
from core.settings import Settings


def test_names_cache_is_keyed_by_how_queries_are_encoded(tmp_path) -> None:
    settings = Settings(_env_file=None, model_cache_dir=tmp_path)
    names = ["tất", "giày"]
    full = SimpleNamespace(fingerprint="abc", query_signature="view_bound=0.2,int8")
    tower = SimpleNamespace(fingerprint="abc", query_signature="view_bound=0.2,tower=768987ac6b39,int8")
    path = names_cache_path(settings, full, names)
    assert path.parent == tmp_path / "market-names"
    assert path == names_cache_path(settings, SimpleNamespace(**vars(full)), list(names))  # stable
    assert path != names_cache_path(settings, tower, names)  # same index model, other query vectors
    assert path != names_cache_path(settings, full, [*names, "áo"])
    assert path != names_cache_path(settings.model_copy(update={"query_precision": "fp32"}), full, names)
