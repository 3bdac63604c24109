"""API keys: who is calling, and may they do this.

Keys come from the settings (``LIRA_API_KEYS``, ``LIRA_ADMIN_API_KEYS``). A key is never logged: logs and rate
limits use its *id*, the first 8 hex digits of its sha256, which an operator can compute from the key too.
Keys are compared in constant time, against every configured key, so timing says nothing about a near miss.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import Request

from core.settings import Settings

HEADER = "X-API-Key"
Role = Literal["anonymous", "search", "admin"]
_STATE_KEY = "lira_caller"


def key_id(key: str) -> str:
    """A stable, non-secret name for a key: what logs and rate limits show."""
    return "key-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]


@dataclass(frozen=True)
class Caller:
    role: Role
    key_id: str | None = None  # None for anonymous callers
    unknown_key: bool = False  # a key was sent but matches none


class KeyRing:
    """The configured keys, as bytes for ``hmac.compare_digest``."""

    def __init__(self, settings: Settings) -> None:
        self._search = [k.encode("utf-8") for k in settings.api_keys]
        self._admin = [k.encode("utf-8") for k in settings.admin_api_keys]
        self.open = not self._search and not self._admin  # local development: nothing configured
        self.admin_enabled = bool(self._admin)
        # Search keys make search keyed (unless told otherwise); admin keys alone only guard the admin endpoints.
        self.search_needs_key = bool(self._search) and settings.require_key_for_search

    @staticmethod
    def _matches(presented: bytes, keys: list[bytes]) -> bool:
        found = False
        for key in keys:  # no early exit: the time taken does not depend on which key matched
            found |= hmac.compare_digest(presented, key)
        return found

    def identify(self, presented: str | None) -> Caller:
        if not presented or self.open:
            return Caller("anonymous")
        raw = presented.encode("utf-8", errors="surrogateescape")
        is_admin = self._matches(raw, self._admin)
        is_search = self._matches(raw, self._search)
        if is_admin:
            return Caller("admin", key_id(presented))
        if is_search:
            return Caller("search", key_id(presented))
        return Caller("anonymous", unknown_key=True)


def caller_of(request: Request) -> Caller:
    """The caller of this request, worked out once and kept in the request state (rate limiter, auth, log)."""
    state = request.scope.setdefault("state", {})
    caller = state.get(_STATE_KEY)
    if caller is None:
        ring: KeyRing = request.app.state.keyring
        caller = ring.identify(request.headers.get(HEADER))
        state[_STATE_KEY] = caller
    return caller


def caller_from_scope(scope: MutableMapping[str, Any]) -> Caller | None:
    """For middleware that runs after the app: the caller if anything worked it out."""
    return scope.get("state", {}).get(_STATE_KEY)


def rate_limit_key(request: Request) -> str:
    """Rate limits count per valid API key, else per client IP (behind a trusted proxy: X-Forwarded-For)."""
    caller = caller_of(request)
    if caller.key_id:
        return caller.key_id
    return f"ip-{request.client.host if request.client else 'unknown'}"
