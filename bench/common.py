"""Helpers shared by the benchmarks: a real uvicorn server in a subprocess, percentiles, query texts."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
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
def uvicorn_server(env: dict[str, str] | None = None, timeout_s: float = 180.0):
    """Start ``python -m app`` on a free port; yield its base URL once /readyz answers 200."""
    port = free_port()
    full_env = {**os.environ, **(env or {}), "LIRA_PORT": str(port), "LIRA_HOST": "127.0.0.1"}
    log = tempfile.TemporaryFile()  # noqa: SIM115 - a file, not a pipe: an access log must never block the server
    proc = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=full_env,
                            stdout=subprocess.DEVNULL, stderr=log)
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
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


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
