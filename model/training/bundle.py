"""Write a model bundle's ``manifest.json`` from the trained files in its directory (``model.bundle`` reads it).

    python -m model.training.bundle [--dir model/bundle] [--name NAME]

The encoder is ``arca.pt``; each ``lasr*.pt`` head is listed under the query path it was trained for (``lasr.pt``:
12-layer queries, ``lasr_distilled.pt``: the distilled tower's) after checking it was trained on this encoder;
``query_tower.pt`` is the tower when present. The query path is the one the heads were trained and the figures
measured with (the settings' values in force, so run it with the environment of the training run); provenance is
copied from the checkpoints (training steps, data digest, loss weights, package versions, LaSR's dev summary).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from core.settings import BUNDLE_FORMAT, BUNDLE_MANIFEST, DEFAULT_BUNDLE, QUERY_PATH_KEYS, Settings, read_manifest
from model.bundle import sha256_of

HEADS = {"lasr.pt": "full", "lasr_distilled.pt": "distilled"}


def _payload(path: Path) -> dict[str, Any]:
    data = torch.load(path, map_location="cpu", weights_only=False)
    return data if isinstance(data, dict) else {}


def build_manifest(root: Path, name: str, settings: Settings, strict: bool = True) -> dict[str, Any]:
    """The manifest of the files in ``root``. A head trained on another encoder is an error, or with ``strict``
    off (a trainer has just replaced the encoder) left out with a warning: the service then serves no LaSR head
    from this bundle until one is retrained."""
    from model.loader import load_encoder

    root = Path(root)
    encoder_file = root / "arca.pt"
    if not encoder_file.is_file():
        raise SystemExit(f"{encoder_file} not found: a bundle needs its Arca checkpoint")
    # the files as they are now (not checked against the manifest being rewritten)
    probe = settings.model_copy(
        update={"arca_checkpoint": encoder_file, "query_tower": "full", "model_bundle": root / "unchecked"}
    )
    fingerprint = load_encoder(probe).fingerprint
    arca = _payload(encoder_file)
    files = [encoder_file, *(root / h for h in HEADS if (root / h).is_file())]
    tower = root / "query_tower.pt"
    if tower.is_file():
        files.append(tower)
    heads: dict[str, dict[str, Any]] = {}
    provenance: dict[str, Any] = {
        "encoder": {k: arca.get(k) for k in ("format", "config", "base", "versions", "train")},
        "lexicon_terms": len(arca.get("lexicon", [])),
    }
    for file, query_path in HEADS.items():
        if not (root / file).is_file():
            continue
        head = _payload(root / file)
        if head.get("encoder_fingerprint") != fingerprint:
            if not strict:
                print(
                    f"warning: {root / file} was trained on another encoder: left out of the manifest; retrain it "
                    "(python -m model.training lasr)",
                    file=sys.stderr,
                )
                continue
            raise SystemExit(
                f"{root / file} was trained on encoder {head.get('encoder_fingerprint')}, not on this bundle's "
                f"{fingerprint}: retrain it (python -m model.training lasr)"
            )
        heads[query_path] = {"file": file, "encoder": "arca.pt"}
        provenance[file] = {k: head.get(k) for k in ("format", "config", "candidates", "rrf_k", "summary")}
    return {
        "format": BUNDLE_FORMAT,
        "name": name,
        "files": {f.name: {"sha256": sha256_of(f), "bytes": f.stat().st_size} for f in files},
        "encoder": {"file": "arca.pt", "fingerprint": fingerprint, "base": arca.get("base", {})},
        "heads": heads,
        "tower": {"file": tower.name} if tower.is_file() else None,
        "query_path": {key: getattr(settings, key) for key in QUERY_PATH_KEYS},
        "provenance": provenance,
    }


def write_manifest(root: Path, manifest: dict[str, Any]) -> Path:
    """Atomically (a killed write leaves the previous manifest)."""
    path = Path(root) / BUNDLE_MANIFEST
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".manifest.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True, default=str)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def refresh_manifest(written: Path) -> Path | None:
    """After a trainer wrote ``written``: if it lies in a bundle directory (one with a manifest), rewrite that
    manifest for the new file (same name and query path), so the service does not refuse the bundle for a stale
    hash. Returns the manifest's path, or None when ``written`` is not in a bundle."""
    root = Path(written).resolve().parent
    old = read_manifest(root)
    if old is None:
        return None
    manifest = build_manifest(root, str(old.get("name", root.name)), Settings(model_bundle=root), strict=False)
    path = write_manifest(root, manifest)
    print(f"rewrote {path} for {Path(written).name}", file=sys.stderr)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--name", default=None, help="bundle name (default: the directory's name)")
    args = parser.parse_args(argv)
    # the query path in force, not the one an existing manifest would impose on these settings
    settings = Settings(model_bundle=args.dir / "none")
    manifest = build_manifest(args.dir, args.name or args.dir.resolve().name, settings)
    print(f"wrote {write_manifest(args.dir, manifest)}: {', '.join(manifest['files'])}")


if __name__ == "__main__":
    main()
