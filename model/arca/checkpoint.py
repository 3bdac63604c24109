"""The small Arca checkpoint: LoRA factors, composer, config, lexicon and the provenance of the base.

The lexicon is stored inside so that everything that changes the vectors (weights *and* gloss rules) is
covered by the checkpoint's sha256, which is what the index version keys on.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT = "arca/1"
REQUIRED_KEYS = ("format", "config", "lora", "composer", "lexicon", "base")


class ArcaCheckpointError(RuntimeError):
    """The Arca checkpoint file is missing, unreadable or not one this code can serve."""


def save_checkpoint(payload: dict[str, Any], path: Path) -> str:
    """Write atomically (temp file + rename) and return the sha256 of the bytes written."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **payload}, buf)
    return write_atomic(path, buf.getvalue())


def write_atomic(path: Path, data: bytes) -> str:
    """Write ``data`` at ``path`` (temp file + rename: a killed run leaves no torn file); returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a checkpoint is a shared, committed artefact
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return hashlib.sha256(data).hexdigest()


def student_sha256(payload: dict[str, Any]) -> str:
    """Content hash of a checkpoint's student (its LoRA tensors and architecture): what the query tower depends
    on. A composer refit keeps it; a retrained student changes it."""
    h = hashlib.sha256(json.dumps(payload["config"], sort_keys=True).encode())
    for name in sorted(payload["lora"]):
        t = payload["lora"][name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def load_checkpoint(path: Path) -> tuple[dict[str, Any], str]:
    """(payload, sha256 of the file); every failure names the file and what to do about it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArcaCheckpointError(
            f"Arca checkpoint {path} not found: train it with `python -m model.training arca` or set LIRA_MODEL=base"
        ) from None
    except OSError as e:
        raise ArcaCheckpointError(f"Arca checkpoint {path} could not be read: {e}") from e
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for truncated or foreign files
        raise ArcaCheckpointError(
            f"Arca checkpoint {path} is corrupt or not a torch file ({type(e).__name__}: {e})"
        ) from e
    if not isinstance(payload, dict) or any(k not in payload for k in REQUIRED_KEYS):
        raise ArcaCheckpointError(f"Arca checkpoint {path} lacks the keys {REQUIRED_KEYS}: not an Arca checkpoint")
    if payload["format"] != FORMAT:
        raise ArcaCheckpointError(f"Arca checkpoint {path} has format {payload['format']!r}, expected {FORMAT!r}")
    return payload, hashlib.sha256(data).hexdigest()
