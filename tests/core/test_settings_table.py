"""docs/configuration.md is what ``python -m core.settings_table`` generates, and it documents every setting once."""

from __future__ import annotations

from core.settings import Settings
from core.settings_table import DOC, GROUPS, is_bundle_setting, table


def test_configuration_page_matches_the_settings() -> None:
    assert DOC.read_text(encoding="utf-8") == table(), "run: python -m core.settings_table --write"


def test_every_setting_is_described_in_exactly_one_group() -> None:
    grouped = [name for _, _, names in GROUPS for name in names]
    bundle = [n for n, f in Settings.model_fields.items() if is_bundle_setting(f)]
    assert sorted(grouped + bundle) == sorted(Settings.model_fields), "a setting is missing or listed twice"
    assert not set(grouped) & set(bundle)
    assert all(f.description for f in Settings.model_fields.values())
