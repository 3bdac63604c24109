"""docker/compose.cluster.yml and docker/nginx.conf: structure, and agreement with the code (no Docker engine here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
PEERS = ("qdrant-1", "qdrant-2", "qdrant-3")


@pytest.fixture(scope="module")
def cluster() -> dict:
    return yaml.safe_load((DOCKER / "compose.cluster.yml").read_text())


@pytest.fixture(scope="module")
def nginx() -> str:
    return (DOCKER / "nginx.conf").read_text()


def _interpolate(value: str) -> str:
    """Compose's ``${VAR:-default}`` with nothing set in the environment."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def _env(service: dict) -> dict[str, str]:
    return {k: _interpolate(str(v)) for k, v in service.get("environment", {}).items()}


def test_services(cluster):
    assert set(cluster["services"]) == {*PEERS, "indexer", "api", "proxy"}


def test_three_qdrant_peers_form_one_cluster(cluster):
    services = cluster["services"]
    images = {services[p]["image"] for p in PEERS}
    single = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["qdrant"]["image"]
    assert images == {single}, "the cluster runs the same pinned Qdrant as the single-node compose"
    for peer in PEERS:
        service = services[peer]
        assert service["environment"]["QDRANT__CLUSTER__ENABLED"] == "true"
        assert service["environment"]["QDRANT__CLUSTER__P2P__PORT"] == "6335"
        command = service["command"]
        assert command[0] == "./qdrant"
        assert command[command.index("--uri") + 1] == f"http://{peer}:6335"
        if peer == "qdrant-1":
            assert "--bootstrap" not in command
        else:
            assert command[command.index("--bootstrap") + 1] == "http://qdrant-1:6335"
            assert service["depends_on"]["qdrant-1"]["condition"] == "service_healthy"
        volume = service["volumes"][0].split(":")
        assert volume[1] == "/qdrant/storage" and volume[0] in cluster["volumes"]
        assert "/readyz" in " ".join(service["healthcheck"]["test"])
    assert len({services[p]["volumes"][0] for p in PEERS}) == 3, "every peer has its own storage"


def test_collection_layout_settings_fit_the_cluster(cluster, monkeypatch):
    from core.settings import Settings

    for name in ("indexer", "api"):
        for key, value in _env(cluster["services"][name]).items():
            monkeypatch.setenv(key, value)
        settings = Settings(_env_file=None)
        assert settings.resolved_store() == "server"
        assert settings.qdrant_url.removeprefix("http://").split(":")[0] in PEERS
        assert settings.shard_number >= len(PEERS), "at least one shard per peer"
        assert 2 <= settings.replication_factor <= len(PEERS), "a replica to survive one peer down"


def test_indexer_and_api_share_the_scale_layout(cluster, monkeypatch):
    """The index layout is fixed by the indexer when it builds a version and the search parameters are read by the
    API: both must carry the same values (the API's search beam and rescoring for the indexer's int8 graph)."""
    from core.settings import Settings
    from core.store import index_tuning

    tunings = []
    for name in ("indexer", "api"):
        for key, value in _env(cluster["services"][name]).items():
            monkeypatch.setenv(key, value)
        tunings.append(index_tuning(Settings(_env_file=None)))
    assert tunings[0] == tunings[1]
    assert tunings[0].quantization == "int8" and tunings[0].vectors_on_disk and tunings[0].rescore


def test_indexer_is_a_one_shot_after_every_peer(cluster):
    from indexer.__main__ import _parser

    indexer = cluster["services"]["indexer"]
    assert indexer["restart"] == "no"
    assert {p: indexer["depends_on"][p]["condition"] for p in PEERS} == dict.fromkeys(PEERS, "service_healthy")
    cmd = indexer["command"]
    assert cmd[:3] == ["python", "-m", "indexer"] and _parser().parse_args(cmd[3:]).command == "reindex"


def test_api_replicas_are_stateless_and_behind_the_proxy(cluster, monkeypatch):
    from core.settings import Settings

    api = cluster["services"]["api"]
    assert api["deploy"]["replicas"] == 3
    assert "ports" not in api, "replicas are reached through the proxy only"
    assert api["command"] == ["python", "-m", "app"]
    assert api["depends_on"]["indexer"]["condition"] == "service_completed_successfully"
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    for key, value in _env(api).items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.forwarded_allow_ips == "*" and settings.rate_limit
    assert settings.port == 8000 and "8000" in [str(p) for p in api["expose"]]
    # The only state on disk is the reindex lock/status, on a volume the replicas and the indexer share.
    shared = {v for v in api["volumes"]} & set(cluster["services"]["indexer"]["volumes"])
    assert any(str(settings.index_dir).startswith(v.split(":")[1]) for v in shared)


def test_images_are_built_from_the_repository(cluster):
    for name in ("indexer", "api"):
        build = cluster["services"][name]["build"]
        assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == DOCKER / "Dockerfile"


def test_proxy_is_pinned_and_configured(cluster, nginx):
    proxy = cluster["services"]["proxy"]
    assert re.fullmatch(r"nginx:\d+\.\d+\.\d+-alpine", proxy["image"]), proxy["image"]
    source, target = proxy["volumes"][0].split(":")[:2]
    assert (DOCKER / source).resolve() == DOCKER / "nginx.conf" and target == "/etc/nginx/nginx.conf"
    host, container = proxy["ports"][0].split(":")
    assert re.search(rf"listen {container};", nginx)
    assert proxy["depends_on"]["api"]["condition"] == "service_healthy"


def test_nginx_balances_over_every_replica(nginx):
    assert nginx.count("{") == nginx.count("}")
    upstream = re.search(r"upstream lira_api \{(.*?)\}", nginx, re.S)[1]
    assert re.search(r"server api:8000 resolve", upstream), "re-resolve the replicas Docker's DNS returns"
    assert "zone " in upstream and "resolver 127.0.0.11" in nginx
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for" in nginx
    assert "location = /metrics { return 404; }" in nginx
    admin = re.search(r"location /v1/admin/ \{(.*?)\}", nginx, re.S)[1]
    assert "proxy_next_upstream off" in admin, "a reindex request is never sent twice"
    assert nginx.count("proxy_pass http://lira_api;") == 2
