"""The one settings object of LiRA Search.

Every knob is an environment variable with the ``LIRA_`` prefix (or a ``.env`` file); ``PORT`` and
``QDRANT_URL`` / ``QDRANT_API_KEY`` are also read unprefixed because deployments conventionally set them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
LANGUAGES: tuple[str, ...] = ("en", "vi", "th", "id", "ms", "tl", "ur", "bn")


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "lira-search"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIRA_", env_file=".env", extra="ignore")

    # data
    data_dir: Path = Field(REPO_ROOT.parent / "shared" / "data", description="Parallel corpora (en<TAB>xx TSV).")
    catalogue_path: Path = Field(REPO_ROOT / "data" / "catalogue" / "products.jsonl")

    # model
    model_cache_dir: Path = Field(default_factory=_default_cache_dir, description="Materialised base model.")
    model: Literal["arca", "base"] = "arca"
    arca_checkpoint: Path = Field(REPO_ROOT / "model" / "checkpoints" / "arca.pt")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1, description="torch intra-op threads; None = torch default.")
    batch_size: int = Field(64, ge=1, le=1024)
    max_seq_len: int = Field(128, ge=8, le=512)

    # store
    store: Literal["edge", "server", "local"] = Field(
        "edge",
        description="edge = Qdrant Edge in-process; server = Qdrant via QDRANT_URL; local = qdrant-client local mode.",
    )
    index_dir: Path = Field(REPO_ROOT / "var" / "index", description="Edge shards / local-mode storage.")
    qdrant_url: str | None = Field(None, validation_alias=AliasChoices("LIRA_QDRANT_URL", "QDRANT_URL"))
    qdrant_api_key: str | None = Field(None, validation_alias=AliasChoices("LIRA_QDRANT_API_KEY", "QDRANT_API_KEY"))
    collection: str = Field("products", description="Alias (server) / dataset name (edge) that serves searches.")
    store_timeout_s: float = Field(5.0, gt=0)
    keep_versions: int = Field(2, ge=1, description="Index versions kept after a switch (current included).")

    # service
    host: str = "127.0.0.1"
    port: int = Field(8000, validation_alias=AliasChoices("LIRA_PORT", "PORT"))
    max_query_chars: int = 512
    index_poll_s: float = Field(1.0, gt=0, description="How often the API checks for a new index version.")

    def resolved_store(self) -> str:
        """``server`` whenever a Qdrant URL is configured, else the configured embedded engine."""
        return "server" if self.qdrant_url else self.store


@lru_cache
def get_settings() -> Settings:
    return Settings()
