"""Prometheus metrics of the search path: encoder and store latency, the serving version, documents per language.

They live in the Searcher's own registry (HTTP metrics live in the app's): several apps in one process (tests)
never collide, and the figures belong to the model and store they measure.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Gauge, Histogram, Info

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.encoder_seconds = Histogram(
            "lira_encoder_seconds",
            "Time to encode one batch of texts.",
            ["kind"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.encoder_batch_size = Histogram(
            "lira_encoder_batch_texts",
            "Texts per encoder batch (query micro-batching).",
            ["kind"],
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )
        self.store_seconds = Histogram(
            "lira_store_seconds",
            "Time of one vector-store call.",
            ["operation", "outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rerank_seconds = Histogram(
            "lira_rerank_seconds",
            "Time for LaSR to rescore one candidate list.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.index_version = Info("lira_index", "The index version being served.", registry=self.registry)
        self.index_version.info({"version": "none"})
        self.index_ready = Gauge(
            "lira_index_ready", "1 when an index built by this model is serving, else 0.", registry=self.registry
        )
        self.documents = Gauge(
            "lira_documents",
            "Documents in the serving index per language (refreshed at most every LIRA_METRICS_REFRESH_S).",
            ["language"],
            registry=self.registry,
        )
        self._version = "none"
        self.refreshed_at = 0.0

    def observe_encode(self, kind: str, seconds: float, texts: int) -> None:
        self.encoder_seconds.labels(kind).observe(seconds)
        self.encoder_batch_size.labels(kind).observe(texts)

    def observe_rerank(self, seconds: float, candidates: int) -> None:
        self.rerank_seconds.observe(seconds)

    def observe_store(self, operation: str, outcome: str, seconds: float) -> None:
        self.store_seconds.labels(operation, outcome).observe(seconds)

    def serving(self, version: str | None) -> None:
        """Cheap to call on every request: the Info is only rewritten when the version changes."""
        label = version or "none"
        if label != self._version:
            self._version = label
            self.index_version.info({"version": label})
        self.index_ready.set(1 if version else 0)

    def set_documents(self, counts: dict[str, int]) -> None:
        for language, n in counts.items():
            self.documents.labels(language).set(n)
        self.refreshed_at = time.monotonic()
