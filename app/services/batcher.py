"""Micro-batching of query encodings.

Concurrent requests each carry one short query; encoding them one by one oversubscribes the two cores with
competing torch thread pools. One worker thread drains whatever queries are waiting and encodes them as a
single batch, so throughput grows with concurrency while a lone query still goes straight through.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np

from model.encoder import Encoder


class QueryEncoder:
    def __init__(self, encoder: Encoder, max_batch: int = 32, cache_size: int = 4096) -> None:
        self._encoder = encoder
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[tuple[str, ...], Future] | None] = queue.SimpleQueue()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()
        self._pinned: dict[str, np.ndarray] = {}  # never evicted (``pin``)
        self.on_batch: Callable[[float, int], None] | None = None  # (seconds, texts): metrics hook
        self._thread = threading.Thread(target=self._run, name="query-encoder", daemon=True)
        self._thread.start()

    async def encode(self, text: str) -> np.ndarray:
        return (await self.encode_many([text]))[0]

    async def encode_many(self, texts: list[str]) -> list[np.ndarray]:
        """Vectors of ``texts``, which reach the encoder thread together (one batch), cached ones excepted."""
        found: dict[str, np.ndarray] = {}
        with self._cache_lock:
            for text in texts:
                if (pinned := self._pinned.get(text)) is not None:
                    found[text] = pinned
                    continue
                hit = self._cache.get(text)
                if hit is not None:
                    self._cache.move_to_end(text)
                    found[text] = hit
        missing = tuple(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            future: Future = Future()
            self._queue.put((missing, future))
            vectors = await asyncio.wrap_future(future)
            with self._cache_lock:
                for text, vector in zip(missing, vectors, strict=True):
                    found[text] = vector
                    self._cache[text] = vector
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return [found[t] for t in texts]

    def pin(self, texts: Sequence[str], batch: int = 8) -> int:
        """Encode ``texts`` (blocking; from a background thread), a few at a time through the encoder thread so
        searches interleave, and keep their vectors for good (a small fixed set searches reuse: the market names
        of ``QueryTranslator.market_names``). Returns how many are pinned."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._pinned]
        for start in range(0, len(todo), batch):
            chunk = tuple(todo[start : start + batch])
            future: Future = Future()
            self._queue.put((chunk, future))
            vectors = future.result()
            with self._cache_lock:
                self._pinned.update(zip(chunk, vectors, strict=True))
        return len(self._pinned)

    def pin_vectors(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Keep these (already encoded) vectors for good, as ``pin`` would."""
        with self._cache_lock:
            self._pinned.update(zip(texts, np.asarray(vectors, dtype=np.float32), strict=True))

    def pinned(self, texts: Sequence[str]) -> np.ndarray:
        with self._cache_lock:
            return np.stack([self._pinned[t] for t in texts])

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            self._encode_batch(batch)

    def _encode_batch(self, batch: list[tuple[tuple[str, ...], Future]]) -> None:
        # a request cancelled while it waited (client gone, server shutting down) cancelled its future: skip it.
        # The others are marked running, so a late cancel can no longer make set_result raise in this thread
        batch = [(texts, future) for texts, future in batch if future.set_running_or_notify_cancel()]
        if not batch:
            return
        unique = list(dict.fromkeys(text for texts, _ in batch for text in texts))
        t0 = time.perf_counter()
        try:
            vectors = self._encoder.encode(unique, kind="query")
        except Exception as exc:  # the caller's request fails, the worker lives on
            for _, future in batch:
                future.set_exception(exc)
            return
        if self.on_batch is not None:
            with contextlib.suppress(Exception):  # metrics must never fail a search
                self.on_batch(time.perf_counter() - t0, len(unique))
        by_text = dict(zip(unique, vectors, strict=True))
        for texts, future in batch:
            future.set_result([by_text[text] for text in texts])
