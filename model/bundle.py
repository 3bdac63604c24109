"""The model bundle: one directory holding everything the query path loads, described by its ``manifest.json``.

    model/bundle/
        manifest.json   format, name, files (sha256, bytes), which encoder each LaSR head belongs to, the query-path
                        settings the heads were trained and measured with, training provenance
        arca.pt         the Arca encoder (LoRA student + composer) over the base model named in the manifest
        lasr.pt         the LaSR head for 12-layer Arca query vectors (query path "full")

``load_bundle(dir)`` checks it: the format, every file present with its sha256, each head trained on the bundle's
encoder (its stored encoder fingerprint against the manifest's) and the query-path keys known. The settings read
the manifest's query path as their defaults (``core.settings``), so an operator names a bundle
(``LIRA_MODEL_BUNDLE``) rather than a checkpoint, a head and a dozen research knobs that must agree with each other.
``python -m model.training.bundle`` writes the manifest of a directory of trained files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.settings import BUNDLE_FORMAT, BUNDLE_MANIFEST, QUERY_PATH_KEYS, read_manifest


class BundleError(RuntimeError):
    """The bundle is missing, incomplete, altered or inconsistent; the message names the file and the fix."""


@dataclass(frozen=True)
class Bundle:
    root: Path
    name: str
    encoder: Path  # the Arca checkpoint
    heads: dict[str, Path]  # query path ("full" | "distilled") -> LaSR head trained on its vectors
    tower: Path | None  # the distilled query tower, when the bundle has one
    query_path: dict[str, Any]
    sha256: dict[str, str]  # file name -> sha256 (as checked)
    provenance: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """What ``/v1/info`` shows: the bundle's name and its files' short hashes."""
        return {"name": self.name, "files": {k: v[:12] for k, v in self.sha256.items()}}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _head_encoder(path: Path) -> str | None:
    import torch

    payload = torch.load(path, map_location="cpu", weights_only=False)
    return payload.get("encoder_fingerprint") if isinstance(payload, dict) else None


def load_bundle(root: Path) -> Bundle:
    """The bundle at ``root``, checked (see the module docstring); ``BundleError`` says what is wrong."""
    root = Path(root)
    try:
        manifest = read_manifest(root)
    except (OSError, ValueError) as e:
        raise BundleError(f"model bundle {root}: {e}") from e
    if manifest is None:
        raise BundleError(f"model bundle {root}: no {BUNDLE_MANIFEST}; point LIRA_MODEL_BUNDLE at a bundle directory")
    return _checked(root.resolve(), json.dumps(manifest, sort_keys=True))


@lru_cache(maxsize=4)
def _checked(root: Path, manifest_json: str) -> Bundle:
    manifest = json.loads(manifest_json)
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"model bundle {root}: format {manifest.get('format')!r}, this version reads {BUNDLE_FORMAT}")
    files: dict[str, dict[str, Any]] = manifest.get("files", {})
    sha: dict[str, str] = {}
    for name, meta in files.items():
        path = root / name
        if not path.is_file():
            raise BundleError(f"model bundle {root}: {name} is missing (restore it from the release)")
        got = sha256_of(path)
        if got != meta.get("sha256"):
            raise BundleError(
                f"model bundle {root}: {name} has sha256 {got[:12]}…, the manifest says {str(meta.get('sha256'))[:12]}…"
                " (a file was replaced: rewrite the manifest with python -m model.training.bundle, or restore it)"
            )
        sha[name] = got
    encoder = manifest.get("encoder", {})
    if encoder.get("file") not in files:
        raise BundleError(f"model bundle {root}: the manifest names no encoder file among its files")
    heads: dict[str, Path] = {}
    for query_path, head in manifest.get("heads", {}).items():
        if head.get("file") not in files:
            raise BundleError(f"model bundle {root}: head {query_path!r} names {head.get('file')!r}, not a bundle file")
        trained_on = _head_encoder(root / head["file"])
        if trained_on != encoder.get("fingerprint"):
            raise BundleError(
                f"model bundle {root}: head {head['file']} was trained on encoder {trained_on}, the bundle's encoder "
                f"is {encoder.get('fingerprint')}: retrain it (python -m model.training lasr)"
            )
        heads[query_path] = root / head["file"]
    unknown = set(manifest.get("query_path", {})) - set(QUERY_PATH_KEYS)
    if unknown:
        raise BundleError(f"model bundle {root}: unknown query-path keys {sorted(unknown)}")
    tower = manifest.get("tower")
    return Bundle(
        root=root,
        name=str(manifest.get("name", root.name)),
        encoder=root / encoder["file"],
        heads=heads,
        tower=root / tower["file"] if tower else None,
        query_path=dict(manifest.get("query_path", {})),
        sha256=sha,
        provenance=dict(manifest.get("provenance", {})),
    )
