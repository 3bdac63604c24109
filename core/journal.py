"""The product journal: every write of the document API (``POST /v1/products``, ``DELETE /v1/products/{id}``),
durable before it is acknowledged, and the record the batch reindex merges.

One JSON line per operation, ``{"seq": n, "op": "upsert", "product": {...}}`` or ``{"seq": n, "op": "delete",
"id": ...}``, appended under an exclusive ``flock`` and ``fsync``-ed before the API answers: an acknowledged write
survives ``kill -9`` of the API (and of the machine, as far as the disk keeps its promise). A line torn by a crash
mid-append was never acknowledged, and is skipped (and cut off by the next append).

What the journal means: **the catalogue file, then every journal operation in order** (the last one for an id
wins). The batch reindex builds exactly that (``merged``) and records the journal's sequence number in the version;
the API, opening a version, applies the operations the version does not hold yet (``entries(after=…)``): writes
made during a reindex are never lost. Operations stay in the journal until an operator clears it (``python -m
indexer journal --clear``), typically after folding them into the catalogue file.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.catalogue import Product


@dataclass(frozen=True)
class Entry:
    seq: int
    op: str  # "upsert" | "delete"
    id: str
    product: Product | None  # the row written (upsert); None for a delete


class ProductJournal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _locked(self, mode: str) -> Iterator:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists()
        with open(self.path, mode + "b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX if mode != "r" else fcntl.LOCK_SH)
            try:
                yield fh
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        if fresh and mode != "r":  # the new file's directory entry must be durable too
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def append(self, products: Sequence[Product] = (), deletes: Sequence[str] = ()) -> int:
        """Write upserts of ``products`` and deletes of ``deletes`` (in that order), durably; the last sequence
        number written (the journal's ``seq`` after this call)."""
        with self._locked("a+") as fh:
            fh.seek(0)
            data = fh.read()
            good = _complete_prefix(data)
            if good < len(data):  # a torn last line (a crash mid-append, never acknowledged): cut it off
                fh.truncate(good)
            seq = _last_seq(data[:good])
            lines = []
            for p in products:
                seq += 1
                lines.append({"seq": seq, "op": "upsert", "product": p.model_dump()})
            for pid in deletes:
                seq += 1
                lines.append({"seq": seq, "op": "delete", "id": pid})
            fh.seek(0, os.SEEK_END)
            fh.write(b"".join(json.dumps(x, ensure_ascii=False).encode("utf-8") + b"\n" for x in lines))
            fh.flush()
            os.fsync(fh.fileno())
            return seq

    def _read(self) -> bytes:
        """The journal's complete lines (a torn last line left out), read once under a shared lock."""
        if not self.path.exists():
            return b""
        with self._locked("r") as fh:
            data = fh.read()
        return data[: _complete_prefix(data)]

    def entries(self, after: int = 0) -> list[Entry]:
        """The operations with a sequence number above ``after``, in order (a torn last line left out)."""
        return _entries(self._read(), after)

    def seq(self) -> int:
        """The last sequence number written (0: none ever)."""
        return _last_seq(self._read())

    def latest(self, after: int = 0) -> dict[str, Product | None]:
        """Each product id's last operation above ``after``: its row, or None for a delete (what applying the
        operations in order leaves)."""
        return _latest(self.entries(after))

    def merged(self, products: Sequence[Product]) -> tuple[list[Product], int, int]:
        """``products`` (a catalogue) with the journal applied: (the products, how many journal operations were
        applied, the journal's sequence number they go up to)."""
        data = self._read()
        entries = _entries(data, 0)
        state = _latest(entries)
        out = [p for p in products if p.id not in state]
        out += [p for p in state.values() if p is not None]
        return out, len(entries), _last_seq(data)

    def clear(self) -> int:
        """Remove every operation (after they were folded into the catalogue); how many there were. Sequence numbers
        go on from where they were (a ``base`` line keeps the last), so versions' records of them stay true."""
        with self._locked("a+") as fh:
            fh.seek(0)
            data = fh.read()
            good = data[: _complete_prefix(data)]
            n = sum(1 for line in good.splitlines() if line.strip() and json.loads(line)["op"] != "base")
            fh.truncate(0)
            fh.write(json.dumps({"seq": _last_seq(good), "op": "base"}).encode() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        return n


def _entries(data: bytes, after: int) -> list[Entry]:
    out = []
    for line in data.splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if row["seq"] <= after or row["op"] == "base":
            continue
        if row["op"] == "upsert":
            product = Product.model_validate(row["product"])
            out.append(Entry(row["seq"], "upsert", product.id, product))
        else:
            out.append(Entry(row["seq"], "delete", row["id"], None))
    return out


def _latest(entries: Sequence[Entry]) -> dict[str, Product | None]:
    state: dict[str, Product | None] = {}
    for e in entries:
        state[e.id] = e.product
    return state


def _last_seq(data: bytes) -> int:
    lines = [line for line in data.splitlines() if line.strip()]
    return int(json.loads(lines[-1])["seq"]) if lines else 0


def _complete_prefix(data: bytes) -> int:
    """The length of ``data`` up to its last newline: what was written whole."""
    end = data.rfind(b"\n")
    return end + 1 if end >= 0 else 0


def journal_path(index_dir: Path, collection: str) -> Path:
    return Path(index_dir) / f"{collection}.journal.jsonl"
