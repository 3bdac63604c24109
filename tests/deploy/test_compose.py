"""No Docker engine runs here: check the deployment files' structure and their agreement with the code."""

from __future__ import annotations

import re
import shlex
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_startup_order(compose):
    services = compose["services"]
    assert set(services) == {"qdrant", "indexer", "api"}
    assert services["indexer"]["depends_on"]["qdrant"]["condition"] == "service_healthy"
    api_deps = services["api"]["depends_on"]
    assert api_deps["qdrant"]["condition"] == "service_healthy"
    assert api_deps["indexer"]["condition"] == "service_completed_successfully"
    assert services["indexer"]["restart"] == "no"


def test_qdrant_image_pinned_to_client_minor(compose):
    image = compose["services"]["qdrant"]["image"]
    m = re.fullmatch(r"qdrant/qdrant:v(\d+)\.(\d+)\.(\d+)", image)
    assert m, f"qdrant image must be pinned to an exact release, got {image}"
    client_major, client_minor = version("qdrant-client").split(".")[:2]
    assert (m[1], m[2]) == (client_major, client_minor), "server and client minor versions must match"


def test_qdrant_storage_and_healthcheck(compose):
    qdrant = compose["services"]["qdrant"]
    assert any(v.endswith(":/qdrant/storage") for v in qdrant["volumes"])
    assert qdrant["volumes"][0].split(":")[0] in compose["volumes"]
    test = " ".join(qdrant["healthcheck"]["test"])
    assert "/dev/tcp/127.0.0.1/6333" in test and "/readyz" in test and "curl" not in test


def test_api_healthcheck_and_port(compose):
    api = compose["services"]["api"]
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    assert "8000:8000" in api["ports"]


def test_commands_parse_with_the_real_cli(compose):
    from indexer.__main__ import _parser

    cmd = compose["services"]["indexer"]["command"]
    assert cmd[:3] == ["python", "-m", "indexer"]
    args = _parser().parse_args(cmd[3:])
    assert args.command == "reindex"
    assert compose["services"]["api"]["command"] == ["python", "-m", "app"]


def test_server_settings_from_environment(compose, monkeypatch):
    from core.settings import Settings

    env = compose["x-lira"]["environment"]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.resolved_store() == "server"
    assert settings.qdrant_url == "http://qdrant:6333"


def test_dockerfile_copies_existing_paths_and_pins_torch():
    text = (ROOT / "docker" / "Dockerfile").read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            for src in shlex.split(line)[1:-1]:
                assert (ROOT / src).exists(), f"Dockerfile copies missing path {src}"
    pyproject = (ROOT / "pyproject.toml").read_text()
    pin = re.search(r'"torch==([\d.]+)"', pyproject)[1]
    assert f"torch=={pin}" in text
    assert "ARG TORCH_VARIANT=cpu" in text and "USER " in text
    assert "ensure_base_model" in text, "the image must carry the materialised model (no hub at run time)"
