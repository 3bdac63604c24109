"""Fixtures of the API tests."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app


@pytest.fixture()
def make_client(indexed_settings, searcher, tmp_path):
    """An app over the shared searcher with some settings changed; reindex files go to a temporary folder."""
    opened: list[TestClient] = []

    def make(**overrides) -> TestClient:
        settings = indexed_settings.model_copy(update={"index_dir": tmp_path / "admin-index", **overrides})
        client = TestClient(create_app(settings, searcher=searcher), raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)
