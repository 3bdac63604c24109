"""The model bundle: the shipped one checks out, a replaced file or a foreign head is refused with the file named,
and the settings take their query path and files from the manifest unless set explicitly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.settings import DEFAULT_BUNDLE, Settings
from model.bundle import BundleError, load_bundle
from model.loader import ModelLoadError, check_bundle


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    root = tmp_path / "bundle"
    shutil.copytree(DEFAULT_BUNDLE, root)
    return root


def _edit_manifest(root: Path, **changes) -> None:
    path = root / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def test_shipped_bundle_is_complete_and_consistent() -> None:
    b = load_bundle(DEFAULT_BUNDLE)
    assert b.encoder.name == "arca.pt" and b.heads["full"].name == "lasr.pt"
    assert set(b.sha256) == {"arca.pt", "lasr.pt"}
    assert b.provenance["encoder"]["base"]["model_id"].startswith("multilingual-e5-small")
    settings = Settings(_env_file=None)
    assert settings.arca_checkpoint == DEFAULT_BUNDLE / "arca.pt"
    assert settings.lasr_checkpoint == DEFAULT_BUNDLE / "lasr.pt"
    assert settings.query_view_bound == b.query_path["query_view_bound"]


def test_a_replaced_file_is_refused_by_name(bundle: Path) -> None:
    with (bundle / "lasr.pt").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(BundleError, match=r"lasr\.pt has sha256"):
        load_bundle(bundle)
    with pytest.raises(ModelLoadError, match=r"lasr\.pt has sha256"):
        check_bundle(Settings(_env_file=None, model_bundle=bundle))


def test_a_missing_file_and_a_foreign_head_are_refused(bundle: Path, tmp_path: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    (bundle / "lasr.pt").rename(tmp_path / "lasr.pt")
    with pytest.raises(BundleError, match=r"lasr\.pt is missing"):
        load_bundle(bundle)
    (tmp_path / "lasr.pt").rename(bundle / "lasr.pt")
    _edit_manifest(bundle, encoder={**manifest["encoder"], "fingerprint": "0123456789ab"})
    with pytest.raises(BundleError, match="trained on encoder"):
        load_bundle(bundle)
    _edit_manifest(bundle, encoder=manifest["encoder"], format="lira-bundle/0")
    with pytest.raises(BundleError, match="format"):
        load_bundle(bundle)
    (bundle / "manifest.json").unlink()
    with pytest.raises(BundleError, match="no manifest.json"):
        load_bundle(bundle)


def test_settings_follow_the_manifest_unless_set(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIRA_QUERY_VIEW_BOUND", raising=False)
    manifest = json.loads((bundle / "manifest.json").read_text())
    _edit_manifest(bundle, query_path={**manifest["query_path"], "query_view_bound": 0.05, "rrf_k": 30})
    settings = Settings(_env_file=None, model_bundle=bundle)
    assert (settings.query_view_bound, settings.rrf_k) == (0.05, 30)
    assert settings.arca_checkpoint == bundle / "arca.pt" and settings.lasr_checkpoint == bundle / "lasr.pt"
    assert Settings(_env_file=None, model_bundle=bundle, rrf_k=90).rrf_k == 90
    monkeypatch.setenv("LIRA_QUERY_VIEW_BOUND", "0.3")
    assert Settings(_env_file=None, model_bundle=bundle).query_view_bound == 0.3
    _edit_manifest(bundle, query_path={"unknown_knob": 1})
    with pytest.raises(BundleError, match="unknown_knob"):
        load_bundle(bundle)


def test_a_retrained_file_gets_its_manifest_rewritten(bundle: Path) -> None:
    """A trainer writing into a bundle refreshes the manifest: a new head is listed with its new hash; a head of
    another encoder is left out (the service then has no head to load from it) rather than refused at start-up."""
    import torch

    from model.training.bundle import refresh_manifest

    payload = torch.load(bundle / "lasr.pt", map_location="cpu", weights_only=False)
    torch.save({**payload, "summary": {**payload["summary"], "retrained": True}}, bundle / "lasr.pt")
    with pytest.raises(BundleError, match="has sha256"):
        load_bundle(bundle)
    assert refresh_manifest(bundle / "lasr.pt") == bundle / "manifest.json"
    assert load_bundle(bundle).heads["full"] == bundle / "lasr.pt"

    torch.save({**payload, "encoder_fingerprint": "0123456789ab"}, bundle / "lasr.pt")
    refresh_manifest(bundle / "lasr.pt")
    assert load_bundle(bundle).heads == {}
    assert refresh_manifest(bundle.parent / "elsewhere.pt") is None
