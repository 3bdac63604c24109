"""Dependencies as ``Annotated`` aliases: a route's signature says what it needs; tests override them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.services.searcher import Searcher
from core.settings import Settings


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_searcher(request: Request) -> Searcher:
    return request.app.state.searcher


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SearcherDep = Annotated[Searcher, Depends(get_searcher)]
