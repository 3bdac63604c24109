"""YAML training configs shared by every trainer: top-level keys plus named sections, each a frozen dataclass."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from core.settings import REPO_ROOT

C = TypeVar("C")


def _tupled(v: Any) -> Any:
    """YAML lists become tuples: the config dataclasses are frozen and hashable."""
    return tuple(_tupled(x) for x in v) if isinstance(v, list) else v


def load_config(cls: type[C], path: Path, sections: dict[str, type]) -> C:
    """``cls`` from the YAML file at ``path``; an unknown key, top-level or in a section, is an error naming it."""
    raw = yaml.safe_load(Path(path).read_text()) or {}
    unknown = set(raw) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"{path}: unknown config keys {sorted(unknown)}")
    kwargs: dict[str, Any] = {k: v for k, v in raw.items() if k not in sections}
    for name, klass in sections.items():
        values = raw.get(name) or {}
        bad = set(values) - {f.name for f in fields(klass)}
        if bad:
            raise ValueError(f"{path}: unknown keys in {name}: {sorted(bad)}")
        kwargs[name] = klass(**{k: _tupled(v) for k, v in values.items()})
    return cls(**kwargs)


def resolve(path: str) -> Path:
    """A config path: absolute as given, else relative to the repository root."""
    p = Path(path)
    return p if p.is_absolute() else REPO_ROOT / p
