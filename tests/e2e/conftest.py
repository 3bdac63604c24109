"""Headless Debian Chromium driven by Playwright, and a second real server whose API answers 503.

Without chromium, its fonts or playwright the browser tests skip, except under CI=true where they fail:
CI must really run them (``scripts/ensure_browser.sh`` installs what they need)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bench.common import ROOT, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Without these, Thai, Bengali and Urdu titles would show as boxes (tofu).
FONT_FAMILIES = ("Noto Sans Thai", "Noto Sans Bengali", "Noto Nastaliq Urdu")
ARTIFACTS = ROOT / "artifacts" / "e2e"


def _missing_fonts() -> list[str]:
    if not shutil.which("fc-list"):
        return list(FONT_FAMILIES)
    installed = subprocess.run(["fc-list", ":", "family"], capture_output=True, text=True).stdout
    return [f for f in FONT_FAMILIES if f not in installed]


def _browser_problem() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed: pip install -e '.[dev]'"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found: apt-get install chromium"
    if missing := _missing_fonts():
        return f"fonts missing: {', '.join(missing)}: apt-get install fonts-noto-core"
    return None


@pytest.fixture(scope="session")
def browser():
    if problem := _browser_problem():
        problem += " (run scripts/ensure_browser.sh as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser tests: {problem}")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def screenshot():
    """``screenshot(page, name)`` saves ``artifacts/e2e/<name>.png`` (full page) for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return lambda page, name: page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


class _AppProcess:
    """``python -m app`` on a free port, started at once; ``url()`` waits for /healthz (readiness may never come)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.log = log
        full_env = {**os.environ, **env, "LIRA_PORT": str(port), "LIRA_HOST": "127.0.0.1"}
        with log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=full_env, stdout=out, stderr=out)

    def url(self, timeout_s: float = 180.0) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return self.base_url
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not healthy after {timeout_s:.0f} s: {self.log.read_text()[-2000:]}")
            time.sleep(0.3)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session", autouse=True)
def _unavailable_app(tmp_path_factory):
    """Started before the other fixtures of these tests, so its model loads while the shared index is built."""
    if _browser_problem():
        yield None
        return
    # The base model: what answers does not depend on it, since no index was ever built.
    env = {"LIRA_INDEX_DIR": str(tmp_path_factory.mktemp("empty-index")), "LIRA_STORE": "edge", "LIRA_MODEL": "base"}
    app = _AppProcess(env, tmp_path_factory.mktemp("logs") / "unavailable-server.log")
    yield app
    app.stop()


@pytest.fixture(scope="session")
def unavailable_server(_unavailable_app) -> str:
    """A real server over an empty index directory: no index was ever built, so searches answer 503."""
    return _unavailable_app.url()
