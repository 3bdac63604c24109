"""Dependencies as ``Annotated`` aliases: a route's signature says what it needs; tests override them.

They are ``async def`` although they never await: FastAPI runs a plain ``def`` dependency in its thread pool, and
three thread hand-offs per search cost more than the checks themselves on a busy two-core box."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from app.api.errors import ApiError
from app.search import Searcher
from app.services.access import HEADER, Caller, KeyRing, caller_of
from app.services.reindexer import Reindexer
from core.settings import Settings

# Declared as a security scheme so /docs has an "Authorize" button; the checks below do the work.
api_key_header = APIKeyHeader(
    name=HEADER, auto_error=False, description="An API key from LIRA_API_KEYS (search) or LIRA_ADMIN_API_KEYS (admin)."
)
_CHALLENGE = {"WWW-Authenticate": f'APIKey header="{HEADER}"'}


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_searcher(request: Request) -> Searcher:
    return request.app.state.searcher


async def get_reindexer(request: Request) -> Reindexer:
    return request.app.state.reindexer


def _keyring(request: Request) -> KeyRing:
    return request.app.state.keyring


async def require_search_access(request: Request, _: Annotated[str | None, Security(api_key_header)] = None) -> Caller:
    """Search and encode: open when no keys are configured or LIRA_REQUIRE_KEY_FOR_SEARCH=false."""
    caller = caller_of(request)
    if caller.unknown_key:
        raise ApiError(
            401, "unknown_api_key", f"the {HEADER} header matches no configured key: check the key", _CHALLENGE
        )
    if _keyring(request).search_needs_key and caller.role == "anonymous":
        raise ApiError(
            401, "missing_api_key", f"this endpoint needs an API key: send it in the {HEADER} header", _CHALLENGE
        )
    return caller


async def require_admin_access(request: Request, _: Annotated[str | None, Security(api_key_header)] = None) -> Caller:
    """Admin operations always need an admin key; with none configured they are off."""
    caller = caller_of(request)
    if not _keyring(request).admin_enabled:
        raise ApiError(403, "admin_disabled", "admin endpoints are disabled: set LIRA_ADMIN_API_KEYS")
    if caller.unknown_key:
        raise ApiError(
            401, "unknown_api_key", f"the {HEADER} header matches no configured key: check the key", _CHALLENGE
        )
    if caller.role == "anonymous":
        raise ApiError(401, "missing_api_key", f"admin endpoints need an admin key in the {HEADER} header", _CHALLENGE)
    if caller.role != "admin":
        raise ApiError(
            403,
            "forbidden",
            f"API key {caller.key_id} may search but not administer: use a key from LIRA_ADMIN_API_KEYS",
        )
    return caller


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SearcherDep = Annotated[Searcher, Depends(get_searcher)]
ReindexerDep = Annotated[Reindexer, Depends(get_reindexer)]
SearchAccess = Annotated[Caller, Depends(require_search_access)]
AdminAccess = Annotated[Caller, Depends(require_admin_access)]
