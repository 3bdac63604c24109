"""Helpers shared by the model tests."""

from __future__ import annotations

from pathlib import Path


def config_in(src: Path, out: Path) -> Path:
    """A copy of the YAML config ``src`` whose run dir, output and cache all lie in ``out`` (a temp dir)."""
    import yaml

    config = yaml.safe_load(src.read_text())
    config.update(run_dir=str(out), output=str(out / "arca.pt"), cache_dir=str(out / "cache"))
    path = out / src.name
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path
