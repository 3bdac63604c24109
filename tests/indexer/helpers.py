"""Shared by the indexer tests."""

from __future__ import annotations


class CountingEncoder:
    """The real encoder, counting the texts of one ``kind`` it is asked to encode (passages: the products; queries:
    the catalogue vocabulary's terms)."""

    def __init__(self, encoder, kind: str = "passage") -> None:
        self._encoder = encoder
        self.kind = kind
        self.fingerprint, self.dim, self.model_id = encoder.fingerprint, encoder.dim, encoder.model_id
        self.texts: list[str] = []

    def encode(self, texts, kind="passage", batch_size=None, progress=False):
        if kind == self.kind:
            self.texts += list(texts)
        return self._encoder.encode(texts, kind=kind, batch_size=batch_size, progress=progress)
