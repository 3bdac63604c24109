"""The query micro-batcher: concurrent queries share one encoder call, failures reach only their callers, and a
cancelled request can never take the encoder thread down."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from app.services.batcher import QueryEncoder


class GatedEncoder:
    """A deterministic encoder whose calls block until the test opens the gate; it records every batch."""

    dim = 4
    fingerprint = "0" * 12
    model_id = "gated"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.calls: list[list[str]] = []
        self.entered = threading.Event()

    def encode(self, texts, kind="passage", batch_size=None, progress=False):
        self.calls.append(list(texts))
        self.entered.set()
        self.gate.wait(5)
        if any(t == "boom" for t in texts):
            raise RuntimeError("encoder failed")
        out = np.array([[len(t), ord(t[0]), 1, 0] for t in texts], dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def encoder():
    enc = GatedEncoder()
    batcher = QueryEncoder(enc)
    yield enc, batcher
    enc.gate.set()
    batcher.close()


def test_waiting_queries_are_encoded_together(encoder) -> None:
    enc, batcher = encoder

    async def run():
        first = asyncio.ensure_future(batcher.encode("first"))
        await asyncio.to_thread(enc.entered.wait, 5)  # the worker is busy with "first"
        rest = [asyncio.ensure_future(batcher.encode(t)) for t in ("bb", "ccc", "bb")]
        await asyncio.sleep(0.05)
        enc.gate.set()
        return await first, await asyncio.gather(*rest)

    first, rest = asyncio.run(run())
    assert enc.calls == [["first"], ["bb", "ccc"]]  # one call for the three waiting requests, duplicates once
    assert np.array_equal(rest[0], rest[2]) and not np.array_equal(rest[0], rest[1])
    assert first.shape == (4,)


def test_a_cancelled_request_does_not_stop_the_encoder_thread(encoder) -> None:
    enc, batcher = encoder

    async def run():
        busy = asyncio.ensure_future(batcher.encode("busy"))
        await asyncio.to_thread(enc.entered.wait, 5)
        doomed = asyncio.ensure_future(batcher.encode("doomed"))
        await asyncio.sleep(0.05)
        doomed.cancel()  # e.g. the client went away while its query waited
        await asyncio.sleep(0.05)
        enc.gate.set()
        await busy
        with pytest.raises(asyncio.CancelledError):
            await doomed
        return await asyncio.wait_for(batcher.encode("after"), 5)

    vector = asyncio.run(run())
    assert vector.shape == (4,)
    assert ["doomed"] not in enc.calls  # skipped, not encoded for nobody
    assert batcher._thread.is_alive()


def test_an_encoder_error_fails_its_batch_only(encoder) -> None:
    enc, batcher = encoder
    enc.gate.set()

    async def run():
        with pytest.raises(RuntimeError, match="encoder failed"):
            await batcher.encode("boom")
        return await batcher.encode("fine")

    assert asyncio.run(run()).shape == (4,)


def test_texts_of_one_request_reach_the_encoder_together(encoder) -> None:
    """A misspelt query and its correction are one batch (two rows run side by side), not two calls in a row;
    cached texts are not encoded again."""
    enc, batcher = encoder
    enc.gate.set()

    async def run():
        together = await batcher.encode_many(["quạt trắgn", "quạt trắng"])
        again = await batcher.encode_many(["quạt trắng", "giày"])
        return together, again

    together, again = asyncio.run(run())
    assert enc.calls == [["quạt trắgn", "quạt trắng"], ["giày"]]
    assert np.array_equal(together[1], again[0]) and len(again) == 2


def test_pinned_texts_are_encoded_a_few_at_a_time_and_never_again() -> None:
    enc = GatedEncoder()
    enc.gate.set()
    batcher = QueryEncoder(enc, cache_size=1)
    try:
        names = ["tất", "đen", "vớ", "giày", "bạc"]
        assert batcher.pin(names, batch=2) == 5
        assert enc.calls == [["tất", "đen"], ["vớ", "giày"], ["bạc"]]  # searches interleave between the chunks
        got = asyncio.run(batcher.encode_many(["query one", "query two", "tất", "bạc"]))
        assert enc.calls[-1] == ["query one", "query two"]  # pinned names are not encoded again...
        asyncio.run(batcher.encode_many(["x" * n for n in range(1, 6)]))  # ...nor evicted by later queries
        assert np.array_equal(asyncio.run(batcher.encode("tất")), got[2]) and len(enc.calls) == 5
        batcher.pin_vectors(["lụa"], np.ones((1, 4), np.float32))  # read back from a cache file
        np.testing.assert_array_equal(batcher.pinned(["lụa", "tất"])[0], np.ones(4))
        assert asyncio.run(batcher.encode("lụa")).tolist() == [1.0] * 4 and len(enc.calls) == 5
    finally:
        batcher.close()
