"""The service runs from an installed wheel, outside the checkout: build the wheel, install it into a fresh
environment (its dependencies taken from this one), then from an unrelated directory index a small catalogue and
serve a search. Slow (a wheel build and two model loads): CI runs it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

from core.settings import REPO_ROOT

pytestmark = pytest.mark.slow


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    out = subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)
    assert out.returncode == 0, f"{args}: {out.stdout[-1500:]}\n{out.stderr[-3000:]}"
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_installed_wheel_indexes_and_serves_outside_the_checkout(tmp_path: Path, subset_catalogue: Path) -> None:
    # built from a copy of the tracked files: a build writes build/ and *.egg-info beside its sources
    src = tmp_path / "src"
    for name in _run(["git", "ls-files"], cwd=REPO_ROOT).stdout.splitlines():
        if (REPO_ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, src / name)
    wheels = tmp_path / "wheels"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), "."],
        cwd=src,
    )
    (wheel,) = wheels.glob("lira_search-*.whl")
    site = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel)])
    env_dir = tmp_path / "env"
    _run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)])
    python = env_dir / "bin" / "python"
    env_site = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    )
    # the wheel first, then this environment's dependencies (its .pth files, the checkout's editable hook among
    # them, are not processed for a directory listed in a .pth file)
    (env_site / "deps.pth").write_text(f"{site}\n{sysconfig.get_paths()['purelib']}\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LIRA_")},
        "LIRA_CATALOGUE_PATH": str(subset_catalogue),
        "LIRA_MODEL_CACHE_DIR": os.environ["LIRA_MODEL_CACHE_DIR"],  # the session's cache (tests/conftest.py)
    }

    where = _run(
        [
            str(python),
            "-c",
            "import core.settings as s, model.bundle as b; b.load_bundle(s.DEFAULT_BUNDLE); "
            "print(s.__file__); print(s.Settings(_env_file=None).index_dir)",
        ],
        cwd=work,
        env=env,
    ).stdout.split()
    assert where[0].startswith(str(site)), "the installed package, not the checkout, was imported"
    assert Path(where[1]) == work / "var" / "index"
    _run([str(python), "-m", "indexer", "reindex", "--full"], cwd=work, env=env)

    port = _free_port()
    server = subprocess.Popen(
        [str(python), "-m", "app"],
        cwd=work,
        env={**env, "LIRA_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, server.stderr.read()[-3000:] if server.stderr else "server exited"
            assert time.monotonic() < deadline, "the installed service did not become ready"
            time.sleep(1)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/search",
            data=json.dumps({"query": "áo thun", "k": 5}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as r:
            body = json.load(r)
        assert body["results"], body
        assert body["reranked"] is True
    finally:
        server.terminate()
        server.wait(timeout=30)
