"""API keys, rate limits, body size, CORS and error bodies, over the small real index (no model reload: every app
here shares the session's Searcher)."""

from __future__ import annotations

import hmac
import logging
import os

import pytest
from fastapi.testclient import TestClient

from app.services.access import KeyRing, key_id
from indexer.control import ReindexLock, ReindexPaths

SEARCH_KEY = "search-key-0123456789abcdef"
ADMIN_KEY = "admin-key-0123456789abcdef"
QUERY = {"query": "sepatu lari", "k": 3}


def _search(client: TestClient, key: str | None = None, **headers):
    if key is not None:
        headers["X-API-Key"] = key
    return client.post("/v1/search", json=QUERY, headers=headers)


# ---- keys ----------------------------------------------------------------------------------------------------


def test_no_keys_configured_means_open_search_and_no_admin(make_client):
    client = make_client()
    assert _search(client).status_code == 200
    assert _search(client, key="anything-at-all-is-ignored").status_code == 200
    for call in (client.get, client.post):
        r = call("/v1/admin/reindex")
        assert r.status_code == 403
        assert r.json() == {
            "error": "admin_disabled",
            "message": "admin endpoints are disabled: set LIRA_ADMIN_API_KEYS",
        }


def test_keys_guard_search_and_admin(make_client):
    client = make_client(api_keys=[SEARCH_KEY], admin_api_keys=[ADMIN_KEY])

    missing = _search(client)
    assert missing.status_code == 401 and missing.json()["error"] == "missing_api_key"
    assert "X-API-Key" in missing.json()["message"] and "WWW-Authenticate" in missing.headers
    unknown = _search(client, key="not-a-key-of-ours-at-all")
    assert unknown.status_code == 401 and unknown.json()["error"] == "unknown_api_key"
    assert _search(client, key=SEARCH_KEY).status_code == 200
    assert _search(client, key=ADMIN_KEY).status_code == 200, "an admin key may search too"
    assert client.post("/v1/encode", json={"texts": ["áo"]}).status_code == 401
    assert client.get("/v1/info").status_code == 401

    assert client.get("/v1/admin/reindex").status_code == 401
    forbidden = client.get("/v1/admin/reindex", headers={"X-API-Key": SEARCH_KEY})
    assert forbidden.status_code == 403 and forbidden.json()["error"] == "forbidden"
    assert key_id(SEARCH_KEY) in forbidden.json()["message"] and SEARCH_KEY not in forbidden.text
    status = client.get("/v1/admin/reindex", headers={"X-API-Key": ADMIN_KEY})
    assert status.status_code == 200 and status.json()["state"] == "never_run"
    assert status.json()["serving_version"]

    for open_path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(open_path).status_code == 200, open_path


def test_admin_keys_alone_leave_search_open(make_client):
    client = make_client(admin_api_keys=[ADMIN_KEY])
    assert _search(client).status_code == 200
    assert client.get("/v1/admin/reindex").status_code == 401
    assert client.get("/v1/admin/reindex", headers={"X-API-Key": ADMIN_KEY}).status_code == 200


def test_search_can_stay_open_while_admin_is_keyed(make_client):
    client = make_client(api_keys=[SEARCH_KEY], admin_api_keys=[ADMIN_KEY], require_key_for_search=False)
    assert _search(client).status_code == 200
    assert _search(client, key="a-wrong-key-is-still-an-error").status_code == 401
    assert client.get("/v1/admin/reindex").status_code == 401


def test_keys_are_compared_in_constant_time_against_every_key(indexed_settings, monkeypatch):
    ring = KeyRing(
        indexed_settings.model_copy(update={"api_keys": [SEARCH_KEY, "k" * 20], "admin_api_keys": [ADMIN_KEY]})
    )
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    assert ring.identify(SEARCH_KEY).role == "search"
    assert len(calls) == 3, "no early exit: every configured key is compared"
    assert ring.identify(ADMIN_KEY).role == "admin"
    assert ring.identify("x" * 20).unknown_key


def test_admin_reindex_while_one_runs_is_409(make_client, tmp_path):
    client = make_client(admin_api_keys=[ADMIN_KEY])
    settings = client.app.state.settings
    with ReindexLock(ReindexPaths.of(settings).lock) as lock:
        lock.acquire()
        r = client.post("/v1/admin/reindex", headers={"X-API-Key": ADMIN_KEY}, json={"full": True})
        assert r.status_code == 409 and r.json()["error"] == "reindex_running"
        assert r.json()["message"].startswith(f"a reindex is already running (pid {os.getpid()}, started ")
        status = client.get("/v1/admin/reindex", headers={"X-API-Key": ADMIN_KEY}).json()
        assert status["running"] is True


def test_settings_reject_bad_keys_and_limits(indexed_settings):
    from pydantic import ValidationError

    from core.settings import Settings

    with pytest.raises(ValidationError, match="shorter than 16"):
        Settings(_env_file=None, api_keys="short")
    with pytest.raises(ValidationError, match="not a rate limit"):
        Settings(_env_file=None, rate_limit="lots")
    parsed = Settings(_env_file=None, api_keys=f" {SEARCH_KEY} ,{ADMIN_KEY},", cors_origins='["https://a.example"]')
    assert parsed.api_keys == [SEARCH_KEY, ADMIN_KEY] and parsed.cors_origins == ["https://a.example"]
    assert SEARCH_KEY not in repr(parsed)


# ---- limits ---------------------------------------------------------------------------------------------------


def test_rate_limit_per_key_then_per_ip(make_client):
    client = make_client(rate_limit="3/minute", api_keys=[SEARCH_KEY], admin_api_keys=[ADMIN_KEY])
    codes = [_search(client, key=SEARCH_KEY).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = _search(client, key=SEARCH_KEY)
    assert limited.json()["error"] == "rate_limited" and "3 per 1 minute" in limited.json()["message"]
    assert 0 < int(limited.headers["Retry-After"]) <= 61
    assert _search(client, key=ADMIN_KEY).status_code == 200, "another key has its own budget"
    assert all(client.get("/healthz").status_code == 200 for _ in range(6)), "probes are never limited"
    assert all(client.get("/metrics").status_code == 200 for _ in range(6))


def test_rate_limit_off_when_empty(make_client):
    client = make_client(rate_limit="")
    assert all(_search(client).status_code == 200 for _ in range(5))


def test_body_size_limit_before_parsing(make_client):
    client = make_client(max_body_bytes=2048)
    big = {"texts": ["x" * 1500, "y" * 1500]}
    declared = client.post("/v1/encode", json=big)
    assert declared.status_code == 413 and declared.json()["error"] == "body_too_large"
    assert "LIRA_MAX_BODY_BYTES" in declared.json()["message"]

    def chunks():
        yield b'{"texts": ["'
        for _ in range(10):
            yield b"z" * 500
        yield b'"]}'

    streamed = client.post("/v1/encode", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413 and "over 2048 bytes" in streamed.json()["message"]

    def small():
        yield b'{"query": "sepatu", '
        yield b'"k": 2}'

    ok = client.post("/v1/search", content=small(), headers={"Content-Type": "application/json"})
    assert ok.status_code == 200 and len(ok.json()["results"]) == 2


def test_cors_only_for_configured_origins(make_client):
    client = make_client(cors_origins=["https://shop.example"])
    pre = client.options(
        "/v1/search",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key,content-type",
        },
    )
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "https://shop.example"
    other = _search(client, Origin="https://evil.example")
    assert "access-control-allow-origin" not in other.headers
    assert "access-control-allow-origin" not in _search(make_client(), Origin="https://shop.example").headers


# ---- errors and request ids ----------------------------------------------------------------------------------


def test_unknown_paths_and_methods_are_json(client):
    r = client.get("/v1/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found" and "/docs" in r.json()["message"]
    r = client.get("/v1/search")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


def test_unexpected_errors_are_json_with_the_request_id(make_client, caplog):
    from app.api.deps import get_searcher

    class Broken:
        async def search(self, req):
            raise RuntimeError("boom")

    client = make_client()
    client.app.dependency_overrides[get_searcher] = lambda: Broken()
    with caplog.at_level(logging.ERROR, logger="lira.error"):
        r = client.post("/v1/search", json=QUERY, headers={"X-Request-ID": "trace-42"})
    assert r.status_code == 500 and r.headers["X-Request-ID"] == "trace-42"
    assert r.json() == {
        "error": "internal_error",
        "message": "unexpected server error; report request id trace-42 to the operators",
    }
    assert "Traceback" not in r.text and any("boom" in (rec.exc_text or "") for rec in caplog.records)


def test_request_id_is_echoed_when_sane_else_generated(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123.x"}).headers["X-Request-ID"] == "abc-123.x"
    for insane in ("has spaces", "x" * 200, "<script>"):
        rid = client.get("/healthz", headers={"X-Request-ID": insane}).headers["X-Request-ID"]
        assert rid != insane and len(rid) == 32 and int(rid, 16) >= 0
