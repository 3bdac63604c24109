"""Helpers shared by the benchmarks: a real uvicorn server in a subprocess, percentiles, query texts."""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def uvicorn_process(env: dict[str, str] | None = None, timeout_s: float = 180.0):
    """Start ``python -m app`` on a free port; yield (base URL, process) once /readyz answers 200. ``CHECKOUT`` in
    ``env`` runs the server of another checkout of this repository (its directory), e.g. the code before a change."""
    env = dict(env or {})
    cwd = Path(env.pop("CHECKOUT", ROOT))
    port = free_port()
    full_env = {**os.environ, **(env or {}), "LIRA_PORT": str(port), "LIRA_HOST": "127.0.0.1"}
    log = tempfile.TemporaryFile()  # noqa: SIM115 - a file, not a pipe: an access log must never block the server
    proc = subprocess.Popen([sys.executable, "-m", "app"], cwd=cwd, env=full_env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"server exited with {proc.returncode}: {log.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {timeout_s:.0f} s")
            time.sleep(0.5)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextmanager
def uvicorn_server(env: dict[str, str] | None = None, timeout_s: float = 180.0):
    """Start ``python -m app`` on a free port; yield its base URL once /readyz answers 200."""
    with uvicorn_process(env, timeout_s) as (url, _):
        yield url


def _status_mib(pid: int | str, names: Mapping[str, str]) -> dict[str, float]:
    """The memory fields of /proc/PID/status (Linux) given in ``names`` (field → our name), in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in names:
            fields[names[key]] = round(int(value.split()[0]) / 1024, 1)
    return fields


def process_memory_mib(pid: int) -> dict[str, float]:
    """Resident memory of a process now (``rss_mib``) and at its peak (``peak_rss_mib``), from /proc (Linux)."""
    return _status_mib(pid, {"VmRSS": "rss_mib", "VmHWM": "peak_rss_mib"})


class MemorySampler:
    """Peaks of a process's resident memory, split into anonymous pages (heap: what the process itself holds) and
    file-backed pages (memory-mapped index files, which the kernel can drop and read again), sampled from /proc
    every ``interval_s`` in a background thread while the ``with`` block runs. ``ru_maxrss`` gives only their
    sum."""

    _FIELDS = {"RssAnon": "anon", "RssFile": "file"}

    def __init__(self, pid: int | str = "self", interval_s: float = 0.25) -> None:
        self._pid = pid
        self._interval = interval_s
        self.peak_mib: dict[str, float] = dict.fromkeys(self._FIELDS.values(), 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def sample(self) -> None:
        for name, mib in _status_mib(self._pid, self._FIELDS).items():
            self.peak_mib[name] = max(self.peak_mib[name], mib)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def __enter__(self) -> MemorySampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


async def _run_level(
    url: str,
    queries: list[str],
    concurrency: int,
    extra: dict | None = None,
    per_query: Callable[[str], dict] | None = None,
) -> dict:
    latencies: list[float] = []
    errors = 0
    pending = list(queries)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while pending:
            q = pending.pop()
            t0 = time.perf_counter()
            try:
                body = {"query": q, "k": 10, **(extra or {}), **(per_query(q) if per_query else {})}
                r = await client.post(f"{url}/v1/search", json=body)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - t0) * 1000)
            errors += not ok

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {**percentiles(latencies), "qps": round(len(queries) / wall, 1), "errors": errors}


def run_level(
    url: str,
    queries: list[str],
    concurrency: int,
    extra: dict | None = None,
    per_query: Callable[[str], dict] | None = None,
) -> dict:
    """``/v1/search`` for each query with ``concurrency`` requests in flight: latency percentiles, QPS, errors."""
    return asyncio.run(_run_level(url, queries, concurrency, extra, per_query))


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    arr = np.asarray(samples_ms)
    return {f"p{q}_ms": round(float(np.percentile(arr, q)), 2) for q in (50, 95, 99)}


def query_markets() -> dict[str, str]:
    """Query text → the market (language) it was written for, over the train and dev splits (never test)."""
    out: dict[str, str] = {}
    for split in ("dev", "train"):
        path = ROOT / "data" / "catalogue" / f"queries.{split}.jsonl"
        if path.exists():
            for line in path.open(encoding="utf-8"):
                if line.strip():
                    row = json.loads(line)
                    out.setdefault(row["text"], row["language"])
    return out


def shopper_queries(n: int, seed: int = 0) -> list[str]:
    """Distinct query texts from the train and dev splits (never test), so every request misses the cache."""
    texts = sorted(query_markets())
    random.Random(seed).shuffle(texts)
    if len(texts) < n:
        raise SystemExit(f"need {n} distinct queries, found {len(texts)}: lower --requests")
    return texts[:n]
