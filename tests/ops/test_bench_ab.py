"""bench.search_ab's variant syntax: a typo in a variant must fail loudly, not benchmark the defaults twice."""

from __future__ import annotations

import argparse

import pytest

from bench.search_ab import parse_variant


def test_variants_parse() -> None:
    assert parse_variant("on=") == ("on", {})
    assert parse_variant("off=LIRA_SPELL_DENSE=false") == ("off", {"LIRA_SPELL_DENSE": "false"})
    assert parse_variant("fp32=LIRA_QUERY_PRECISION=fp32,LIRA_QUERY_VIEW_BOUND=0.1") == (
        "fp32",
        {"LIRA_QUERY_PRECISION": "fp32", "LIRA_QUERY_VIEW_BOUND": "0.1"},
    )
    for bad in ("on", "=x", "off=LIRA_SPELL_DENSE", "off=LIRA_X=1,oops"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_variant(bad)
