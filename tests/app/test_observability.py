"""Prometheus metrics, JSON access logs and store time limits on every path."""

from __future__ import annotations

import json
import logging
import re
import time

import pytest
from fastapi.testclient import TestClient

from app.api.middleware import JsonFormatter
from app.main import create_app
from app.services.access import key_id
from core.settings import LANGUAGES
from tests.conftest import PER_LANGUAGE, app_client

KEY = "observed-key-0123456789"


def _sample(text: str, name: str, **labels) -> float | None:
    """The value of one sample in Prometheus text format, or None."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if not m or m[1] != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m[2] or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m[3])
    return None


def test_metrics_cover_http_encoder_store_and_index(client):
    client.post("/v1/search", json={"query": "metrics probe query unique 1", "k": 2})
    client.post("/v1/encode", json={"texts": ["a", "b"], "kind": "passage"})
    client.post("/v1/search", json={"query": ""})
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert _sample(text, "http_requests_total", handler="/v1/search", method="POST", status="200") >= 1
    assert _sample(text, "http_requests_total", handler="/v1/search", method="POST", status="422") >= 1
    assert _sample(text, "http_request_duration_seconds_count", handler="/v1/search", status="200") >= 1
    assert _sample(text, "http_request_duration_seconds_bucket", handler="/v1/search", status="200", le="+Inf")
    assert _sample(text, "lira_encoder_seconds_count", kind="query") >= 1
    assert _sample(text, "lira_encoder_seconds_count", kind="passage") >= 1
    assert _sample(text, "lira_store_seconds_count", operation="hybrid_search", outcome="ok") >= 1
    version = client.get("/v1/info").json()["index_version"]
    assert _sample(text, "lira_index_info", version=version) == 1.0
    assert _sample(text, "lira_index_ready") == 1.0
    for lang in LANGUAGES:
        assert _sample(text, "lira_documents", language=lang) == PER_LANGUAGE
    assert "/metrics" not in {m for m in re.findall(r'handler="([^"]+)"', text)}


class _CountingStore:
    """Wraps the real store and counts how often the language counts are asked for."""

    def __init__(self, store) -> None:
        self._store = store
        self.count_calls = 0

    def __getattr__(self, name):
        return getattr(self._store, name)

    def counts_by_language(self, languages):
        self.count_calls += 1
        return self._store.counts_by_language(languages)


def test_documents_gauge_is_refreshed_at_most_every_interval(indexed_settings, searcher):
    store = _CountingStore(searcher.store)
    settings = indexed_settings.model_copy(update={"metrics_refresh_s": 0.5})
    with app_client(settings, searcher.encoder, store) as c:
        for _ in range(5):
            assert c.get("/metrics").status_code == 200
        assert store.count_calls == 1
        time.sleep(0.6)
        c.get("/metrics")
        assert store.count_calls == 2


def test_one_json_access_line_per_request_without_the_key(indexed_settings, searcher, caplog):
    settings = indexed_settings.model_copy(update={"api_keys": [KEY]})
    with TestClient(create_app(settings, searcher=searcher)) as c, caplog.at_level(logging.INFO, "lira.access"):
        r = c.post("/v1/search", json={"query": "tas", "k": 1}, headers={"X-API-Key": KEY, "X-Request-ID": "req-7"})
        assert r.status_code == 200 and r.headers["X-Request-ID"] == "req-7"
        c.get("/healthz")
    records = [rec for rec in caplog.records if rec.name == "lira.access"]
    assert len(records) == 2
    line = json.loads(JsonFormatter().format(records[0]))
    assert {k: line[k] for k in ("method", "path", "status", "request_id", "client", "api_key_id")} == {
        "method": "POST",
        "path": "/v1/search",
        "status": 200,
        "request_id": "req-7",
        "client": "testclient",
        "api_key_id": key_id(KEY),
    }
    assert line["duration_ms"] > 0 and line["level"] == "info" and line["ts"].endswith("Z")
    assert KEY not in json.dumps(line)
    assert json.loads(JsonFormatter().format(records[1]))["api_key_id"] is None


class _HungStore:
    """A (remote) store that never answers in time."""

    local_reads = False

    def __getattr__(self, name):
        def hang(*args, **kwargs):
            time.sleep(1.5)
            raise AssertionError("should have timed out")

        hang.__name__ = name
        return hang


@pytest.mark.parametrize("path", ["/readyz", "/v1/info", "/v1/admin/reindex", "/metrics", "/v1/search"])
def test_every_store_path_has_a_time_limit(indexed_settings, searcher, path, tmp_path):
    settings = indexed_settings.model_copy(
        update={"store_timeout_s": 0.2, "admin_api_keys": [KEY], "index_dir": tmp_path}
    )
    with app_client(settings, searcher.encoder, _HungStore()) as c:
        t0 = time.perf_counter()
        if path == "/v1/search":
            r = c.post(path, json={"query": "tas"}, headers={"X-API-Key": KEY})
        else:
            r = c.get(path, headers={"X-API-Key": KEY})
        took = time.perf_counter() - t0
    assert took < 1.2, f"{path} waited {took:.2f} s for a hung store"
    if path in ("/readyz", "/v1/search"):
        assert r.status_code == 503 and "did not answer within 0.2 s" in r.text
    elif path == "/v1/info":
        assert r.status_code == 200 and r.json()["index_version"] is None
    elif path == "/v1/admin/reindex":
        assert r.status_code == 200 and r.json()["serving_version"] is None
    else:
        assert r.status_code == 200 and _sample(r.text, "lira_index_ready") == 0.0
        assert _sample(r.text, "lira_store_seconds_count", operation="open_current", outcome="timeout") == 1
