"""Faults under live traffic, against a real uvicorn server (``python -m app``) over its own copy of the index:
the store going away and coming back, a reindex SIGKILLed mid-encoding, and a missing or corrupt checkpoint."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from bench.common import ROOT, free_port, uvicorn_server

ADMIN_KEY = "ops-admin-key-0123456789"
ADMIN = {"X-API-Key": ADMIN_KEY}
QUERIES = ("sepatu lari", "áo thun nam", "เสื้อยืด", "rice cooker", "mobile phone", "tas wanita")


class Traffic:
    """Searches from a background thread until stopped; bounded in count and time, and paced so that it leaves the
    two cores to the server and the indexer."""

    def __init__(self, url: str, limit: int = 20_000, max_s: float = 300, pause_s: float = 0.01) -> None:
        self.url, self.limit, self.max_s, self.pause_s = url, limit, max_s, pause_s
        self.results: list[tuple[int | None, dict | str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_s
        with httpx.Client(timeout=15) as client:
            for i in range(self.limit):
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                try:
                    r = client.post(f"{self.url}/v1/search", json={"query": QUERIES[i % len(QUERIES)], "k": 5})
                    self.results.append((r.status_code, r.json()))
                except (httpx.HTTPError, ValueError) as exc:
                    self.results.append((None, repr(exc)))
                self._stop.wait(self.pause_s)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def wait_for(self, n: int, status: int | None = 200, after: int = 0, timeout_s: float = 60) -> None:
        """Until ``n`` answers with ``status`` arrived after the first ``after`` answers."""
        deadline = time.monotonic() + timeout_s
        while sum(s == status for s, _ in self.results[after:]) < n:
            assert time.monotonic() < deadline, f"no {n} × {status} within {timeout_s} s: {self.results[-3:]}"
            assert self._thread.is_alive(), "the traffic thread stopped early"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def ops_server(tmp_path_factory, indexed_settings, subset_catalogue):
    """Its own index copy, admin enabled, reindexing the subset catalogue in small batches."""
    index_dir = tmp_path_factory.mktemp("ops") / "index"
    shutil.copytree(indexed_settings.index_dir, index_dir)
    env = {
        "LIRA_INDEX_DIR": str(index_dir),
        "LIRA_STORE": "edge",
        "LIRA_ADMIN_API_KEYS": ADMIN_KEY,
        "LIRA_CATALOGUE_PATH": str(subset_catalogue),
        "LIRA_BATCH_SIZE": "16",
    }
    with uvicorn_server(env) as url:
        yield url, index_dir


def test_store_gone_mid_traffic_is_503_then_recovers_without_restart(ops_server):
    url, index_dir = ops_server
    moved = index_dir.with_name("moved-away")
    with Traffic(url) as traffic:
        traffic.wait_for(5)
        index_dir.rename(moved)
        try:
            gone_at = len(traffic.results)
            traffic.wait_for(5, status=503, after=gone_at)
            ready = httpx.get(f"{url}/readyz", timeout=10)
            assert ready.status_code == 503 and ready.json()["reasons"]
        finally:
            moved.rename(index_dir)
        back_at = len(traffic.results)
        traffic.wait_for(5, after=back_at)
    statuses = {s for s, _ in traffic.results}
    assert statuses <= {200, 503}, [r for r in traffic.results if r[0] not in (200, 503)][:3]
    outage = [body for s, body in traffic.results if s == 503]
    assert all(
        b["error"] == "store_unavailable" and "disappeared" in b["message"] and "restore" in b["message"]
        for b in outage
    ), outage[:2]
    assert all(s == 200 for s, _ in traffic.results[back_at + 1 :]), "recovered: no 503 once the index is back"
    assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200


def _status(url: str) -> dict:
    r = httpx.get(f"{url}/v1/admin/reindex", headers=ADMIN, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def _wait_status(url: str, done, timeout_s: float = 240) -> dict:
    deadline = time.monotonic() + timeout_s
    while not done(status := _status(url)):
        assert time.monotonic() < deadline, f"reindex status never got there: {status}"
        time.sleep(0.2)
    return status


def test_reindex_killed_mid_encoding_fails_no_search_then_an_incremental_one_switches(ops_server):
    url, _ = ops_server
    old = httpx.get(f"{url}/v1/info", timeout=10).json()["index_version"]
    with Traffic(url) as traffic:
        traffic.wait_for(3)
        started = httpx.post(f"{url}/v1/admin/reindex", headers=ADMIN, json={"full": True}, timeout=30)
        assert started.status_code == 202, started.text
        pid = started.json()["pid"]
        second = httpx.post(f"{url}/v1/admin/reindex", headers=ADMIN, json={}, timeout=30)
        assert second.status_code == 409
        assert second.json()["message"].startswith(f"a reindex is already running (pid {pid}, started ")

        running = _wait_status(url, lambda s: (s.get("progress") or {}).get("done", 0) > 0 or not s["running"])
        assert running["state"] == "running" and running["pid"] == pid, f"finished before it could be killed: {running}"
        os.kill(pid, signal.SIGKILL)
        died = _wait_status(url, lambda s: s["state"] != "running", timeout_s=30)
        killed_at = len(traffic.results)
        traffic.wait_for(5, after=killed_at)
    assert died["state"] == "died" and died["exit_code"] == -signal.SIGKILL and not died["running"]
    assert "previous version is still serving" in died["error"] and died["serving_version"] == old
    failed = [r for r in traffic.results if r[0] != 200]
    assert not failed, f"{len(failed)} of {len(traffic.results)} searches failed: {failed[:3]}"
    assert {body["index_version"] for _, body in traffic.results} == {old}

    # The lock died with the killed run: the next reindex starts at once, reuses every vector and switches.
    again = httpx.post(f"{url}/v1/admin/reindex", headers=ADMIN, timeout=30)
    assert again.status_code == 202, again.text
    done = _wait_status(url, lambda s: s["state"] != "running" and not s["running"])
    assert done["state"] == "succeeded", done
    summary = done["summary"]
    assert summary["incremental"] and summary["reencoded"] == 0 and summary["reused"] == summary["indexed"]
    assert done["serving_version"] == summary["version"] != old
    answer = httpx.post(f"{url}/v1/search", json={"query": "sepatu", "k": 3}, timeout=30).json()
    assert answer["index_version"] == summary["version"] and len(answer["results"]) == 3


@pytest.mark.parametrize("damage", ["missing", "garbage"])
def test_bad_checkpoint_is_a_one_line_startup_error(tmp_path, damage):
    checkpoint = tmp_path / "arca.pt"
    if damage == "garbage":
        checkpoint.write_bytes(os.urandom(4096))
    env = {
        **os.environ,
        "LIRA_MODEL": "arca",
        "LIRA_ARCA_CHECKPOINT": str(checkpoint),
        "LIRA_PORT": str(free_port()),
        "LIRA_INDEX_DIR": str(tmp_path / "index"),
    }
    r = subprocess.run([sys.executable, "-m", "app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr + r.stdout
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot start: ") and str(checkpoint) in last, r.stderr[-2000:]
