"""The reindex child started by the admin endpoint runs with exactly the API's settings."""

from __future__ import annotations

import os
from pathlib import Path

from app.services.reindexer import indexer_environment
from core.settings import Settings


def test_the_child_environment_reproduces_every_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("QDRANT_URL", "http://stale:6333")  # the environment's value must not win over the API's
    monkeypatch.setenv("LIRA_HNSW_EF", "999")
    api = Settings(
        _env_file=None,
        qdrant_url="http://qdrant:6333",
        quantization="int8",
        hnsw_ef=None,
        index_dir=tmp_path / "index",
        api_keys=["k" * 20, "j" * 20],
        payload_on_disk=False,
        lasr_checkpoint=Path("/models/lasr.pt"),
    )
    env = indexer_environment(api)
    assert "LIRA_HNSW_EF" not in env, "a setting that is None in the API falls back to the default in the child"
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    child = Settings(_env_file=None)
    assert child.model_dump() == api.model_dump()
