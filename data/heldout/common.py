"""What every held-out set builder shares: reading a bare git mirror, choosing distinct pairs, writing the files."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def git(repo: Path, *args: str) -> str:
    """stdout of ``git --git-dir REPO ARGS`` (the mirrors are bare repositories)."""
    return subprocess.run(["git", "--git-dir", str(repo), *args], check=True, capture_output=True, text=True).stdout


def distinct_pairs(candidates: Iterable[tuple[str, str]]) -> list[str]:
    """``en<TAB>xx`` lines, in the candidates' order, keeping a pair only when neither side (case-insensitively) was
    kept before and the two sides differ: a bitext set needs one right answer per row, both ways."""
    seen_en: set[str] = set()
    seen_xx: set[str] = set()
    out = []
    for en, xx in candidates:
        if en.lower() in seen_en or xx.lower() in seen_xx or en.lower() == xx.lower():
            continue
        seen_en.add(en.lower())
        seen_xx.add(xx.lower())
        out.append(f"{en}\t{xx}")
    return out


def write_pairs(path: Path, lines: list[str]) -> int:
    """Write ``lines`` as a ``LANG.tsv`` file; returns how many."""
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def write_sources(out: Path, sources: dict[str, Any]) -> None:
    """``SOURCES.json`` beside the TSVs: source, commit, licence and counts, for whoever checks the set."""
    (out / "SOURCES.json").write_text(json.dumps(sources, indent=2) + "\n", encoding="utf-8")
