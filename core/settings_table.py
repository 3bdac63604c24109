"""Print the configuration table of README.md from the one Settings object, so the two never drift apart.

    .venv/bin/python -m core.settings_table
"""

from __future__ import annotations

from pathlib import Path

from pydantic.fields import FieldInfo

from core.settings import REPO_ROOT, Settings


def _env_names(name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    names = list(alias.choices) if alias is not None and hasattr(alias, "choices") else [f"LIRA_{name.upper()}"]
    return " / ".join(f"`{n}`" for n in names)


def _default(field: FieldInfo) -> str:
    value = field.default_factory() if field.default_factory is not None else field.default
    if value in (None, "", []):
        return "—"
    text = str(value).replace(str(REPO_ROOT.parent / "shared"), "../shared").replace(str(REPO_ROOT), ".")
    text = text.replace(str(Path.home()), "~")
    return f"`{text}`"


def table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        meaning = (field.description or "").replace("|", "/")
        rows.append(f"| {_env_names(name, field)} | {_default(field)} | {meaning} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
