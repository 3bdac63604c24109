"""The README's configuration table is the one ``python -m core.settings_table`` prints from the Settings object."""

from __future__ import annotations

from core.settings import REPO_ROOT
from core.settings_table import table


def test_readme_configuration_table_matches_the_settings() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    printed = table()
    assert printed.count("\n") > 10  # every setting has a row
    assert printed in readme, "README's configuration table drifted: paste `python -m core.settings_table` into it"
