"""Vector stores behind one interface; ``open_store(settings)`` picks the engine."""

from __future__ import annotations

from core.settings import Settings
from core.store.base import IndexTuning, VectorStore


def index_tuning(settings: Settings) -> IndexTuning:
    return IndexTuning(
        quantization=settings.quantization,
        hnsw_m=settings.hnsw_m,
        hnsw_ef_construct=settings.hnsw_ef_construct,
        hnsw_ef=settings.hnsw_ef,
        full_scan_kb=settings.hnsw_full_scan_kb,
        oversampling=settings.quantization_oversampling,
        rescore=settings.quantization_rescore,
        vectors_on_disk=settings.vectors_on_disk,
        hnsw_on_disk=settings.hnsw_on_disk,
        payload_on_disk=settings.payload_on_disk,
    )


def open_store(settings: Settings, *, read_only: bool = False) -> VectorStore:
    """The configured engine; the API opens it ``read_only``, so only the indexer can write.

    Engines are imported on demand: an Edge deployment never loads qdrant-client, nor a server one qdrant_edge."""
    kind = settings.resolved_store()
    if kind == "edge":
        from core.store.edge import EdgeStore

        return EdgeStore(
            settings.index_dir,
            settings.collection,
            keep_versions=settings.keep_versions,
            read_only=read_only,
            tuning=index_tuning(settings),
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
            tuning=index_tuning(settings),
            index_wait_s=settings.index_wait_s,
        )
    return QdrantStore(
        settings.collection,
        path=settings.index_dir / "qdrant-local",
        keep_versions=settings.keep_versions,
        read_only=read_only,
    )
