"""The service's import boundary: a started service answering searches has loaded no training, evaluation,
data-generation or benchmark module (docs/architecture.md), and no part of the demo's hand-written lexicon."""

from __future__ import annotations

import json
import subprocess
import sys

BANNED = ("model.training", "model.evaluation", "data", "bench", "tests")

PROBE = """
import json, sys
from pathlib import Path
from fastapi.testclient import TestClient
from core.settings import Settings
from core.store import open_store
from model.loader import load_encoder
from app.main import create_app
from app.search import Searcher
settings = Settings(_env_file=None, store="edge", index_dir=Path({index!r}))
searcher = Searcher.build(settings, load_encoder(settings), open_store(settings))
assert searcher.vocabulary_ready.wait(60)
with TestClient(create_app(settings, searcher=searcher)) as client:
    for body in ({{"query": "kucing hitam"}}, {{"query": "black shoes", "languages": ["th", "en"]}},
                 {{"query": "giay chay bo nam", "languages": ["vi"]}}, {{"query": "tabllet", "explain": True}}):
        r = client.post("/v1/search", json=body)
        assert r.status_code == 200, r.text
    assert client.get("/v1/info").status_code == 200
"""
REPORT = """
import json, sys
banned = {banned!r}
print(json.dumps(sorted(m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in banned))))
"""


def test_a_serving_process_imports_no_training_evaluation_or_data_generation_code(indexed_settings) -> None:
    code = PROBE.format(index=str(indexed_settings.index_dir)) + REPORT.format(banned=BANNED)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_the_report_sees_a_banned_import() -> None:
    """The check above can fail: the same report after importing the evaluator names it."""
    code = "import model.evaluation.metrics\n" + REPORT.format(banned=BANNED)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "model.evaluation.metrics" in json.loads(out.stdout.strip().splitlines()[-1])
