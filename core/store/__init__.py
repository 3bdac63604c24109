"""Vector stores behind one interface; ``open_store(settings)`` picks the engine."""

from __future__ import annotations

from core.settings import Settings
from core.store.base import VectorStore


def open_store(settings: Settings, *, read_only: bool = False) -> VectorStore:
    """The configured engine; the API opens it ``read_only``, so only the indexer can write.

    Engines are imported on demand: an Edge deployment never loads qdrant-client, nor a server one qdrant_edge."""
    kind = settings.resolved_store()
    if kind == "edge":
        from core.store.edge import EdgeStore

        return EdgeStore(
            settings.index_dir, settings.collection, keep_versions=settings.keep_versions, read_only=read_only
        )
    from core.store.qdrant import QdrantStore

    if kind == "server":
        return QdrantStore(
            settings.collection,
            url=settings.qdrant_url,
            api_key=settings.qdrant_api_key,
            timeout_s=settings.store_timeout_s,
            keep_versions=settings.keep_versions,
            read_only=read_only,
            shard_number=settings.shard_number,
            replication_factor=settings.replication_factor,
        )
    return QdrantStore(
        settings.collection,
        path=settings.index_dir / "qdrant-local",
        keep_versions=settings.keep_versions,
        read_only=read_only,
    )
