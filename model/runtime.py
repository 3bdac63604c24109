"""The inference runtime for the transformer trunk: ONNX Runtime on CPU, torch elsewhere.

On the 2-core CPU box, ONNX Runtime runs multilingual-e5-small 2.5–3× faster than torch eager for one short
query (fused attention / LayerNorm / GELU kernels, no per-op Python dispatch) and gives the same vectors
(cosine ≥ 0.99999, tested). So serving and indexing on CPU export the trunk once — the base model, or Arca's
student with its LoRA merged — to ``<model cache>/onnx/<key>.onnx`` and run that; training and CUDA stay on torch.

The graph is ``(input_ids, attention_mask) → mean-pooled hidden states`` (not normalised): exactly what
``mean_pool(model(...).last_hidden_state, mask)`` returns, so callers swap one for the other.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

Runtime = Literal["auto", "torch", "onnx"]
Precision = Literal["fp32", "int8"]
OPSET = 17
# how query graphs are quantised (part of their file name): dynamic int8, per-channel weights, every linear
# projection except the first layer's (the one whose error the dev measurements showed); attention's own
# activation x activation products stay fp32
INT8_RECIPE = "int8-dyn-pc-skip-layer0-v1"
INT8_SKIP = ("/layer.0/",)


class OnnxUnavailable(RuntimeError):
    """ONNX Runtime was asked for but cannot be used here (not installed, or a CUDA device)."""


class _PooledTrunk(nn.Module):
    """What gets exported: the BERT trunk plus E5's mean pooling."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)


def _versions() -> str:
    out = []
    for pkg in ("torch", "transformers", "onnxruntime"):
        try:
            out.append(f"{pkg}={version(pkg)}")
        except PackageNotFoundError:
            out.append(f"{pkg}=none")
    return ",".join(out)


def export_key(model_fingerprint: str) -> str:
    """File name stem: the weights' fingerprint plus the toolchain that wrote the graph."""
    digest = hashlib.sha256(f"{model_fingerprint}|{_versions()}|opset{OPSET}".encode()).hexdigest()[:12]
    return f"{model_fingerprint[:12]}-{digest}"


def export_trunk(model: nn.Module, path: Path) -> Path:
    """Write ``model`` (a BertModel, LoRA merged) as an ONNX graph at ``path``, atomically: a killed export
    leaves no file that looks complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # attention must be traced through the eager path with a real padding mask, or the exporter may fold the
    # mask away (SDPA with an all-ones mask is specialised) and padded batches would come out wrong
    impl = getattr(model.config, "_attn_implementation", None)
    with contextlib.suppress(Exception):
        model.set_attn_implementation("eager")
    ids = torch.full((2, 8), 5, dtype=torch.long, device=next(model.parameters()).device)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _PooledTrunk(model).cpu(),
                (ids.cpu(), mask.cpu()),
                str(tmp),
                input_names=["input_ids", "attention_mask"],
                output_names=["pooled"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "tokens"},
                    "attention_mask": {0: "batch", 1: "tokens"},
                    "pooled": {0: "batch"},
                },
                opset_version=OPSET,
                dynamo=False,
            )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        if impl is not None:
            with contextlib.suppress(Exception):
                model.set_attn_implementation(impl)
        model.train(was_training)
    return path


def projection_nodes(path: Path) -> list[str]:
    """Names of the graph's linear projections: MatMul nodes whose second operand is a weight (an initializer)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    return [n.name for n in graph.node if n.op_type == "MatMul" and len(n.input) == 2 and n.input[1] in weights]


def quantize_trunk(src: Path, dst: Path) -> Path:
    """Write the int8 query graph of ``src`` (``INT8_RECIPE``) at ``dst``, atomically.

    Queries are a few tokens long and the matrix products dominate: int8 weights with dynamically quantised
    activations take a third off a single query's encoding on AVX2 (``bench.encoder_runtime``). The first layer
    stays fp32: of the variants compared, quantising it was what cost the agreement with the fp32 vectors.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    nodes = [n for n in projection_nodes(src) if not any(skip in n for skip in INT8_SKIP)]
    if not nodes:
        raise ValueError(f"{src}: no linear projections found to quantise")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        quantize_dynamic(src, tmp, weight_type=QuantType.QInt8, per_channel=True, nodes_to_quantize=nodes)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def cpu_session(path: Path):
    """A single-threaded ONNX Runtime CPU session over the graph at ``path``, graph optimisations on."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class OnnxTrunk:
    """Callable ``(batch, kind) → pooled fp32 (n, dim) torch tensor`` over ONNX Runtime sessions of the trunk.

    The session runs single-threaded and a batch of several rows is cut into ``threads`` row slices run at the
    same time (ONNX Runtime releases the GIL; one session serves concurrent runs): for the short texts of search,
    row-parallel work scales better than splitting each small matrix product across threads (a batch of 8
    queries: 42 ms vs 56 ms on 2 cores), and each slice drops the padding its own rows do not need.

    Passages always run the fp32 graph (the index is exactly the model's); queries run ``query_path`` when given
    (the int8 graph of ``quantize_trunk``), trading a bounded error on the query side only for latency. A
    ``queries_only`` trunk (the query tower's) holds the int8 graph alone: never hand it passages.
    """

    def __init__(
        self,
        path: Path,
        session,
        threads: int | None = None,
        query_path: Path | None = None,
        query_session=None,
        precision: Precision | None = None,
    ) -> None:
        """Sessions come from ``for_model`` (which builds the cached graphs); ``query_session`` None = queries run
        the fp32 ``session`` too; ``precision`` states the queries' precision where ``session`` is not fp32."""
        self._precision = precision
        self.path = path
        self.query_path = query_path
        self.threads = max(1, threads or len(os.sched_getaffinity(0)))
        self.session = session
        self.query_session = query_session if query_session is not None else session
        self._pool = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="onnx") if self.threads > 1 else None

    @classmethod
    def for_model(
        cls,
        model: nn.Module,
        fingerprint: str,
        cache_dir: Path,
        threads: int | None = None,
        query_precision: Precision = "fp32",
        queries_only: bool = False,
    ) -> OnnxTrunk:
        """The cached export of ``model`` (keyed by ``fingerprint``), exported now if absent or unreadable; with
        ``query_precision="int8"`` also its cached int8 query graph, quantised now if absent or unreadable.

        ``queries_only`` (a query tower): with int8 queries the fp32 graph is only the quantiser's input, and no
        session is kept for it (each session holds its own ~380 MB copy of the embedding table)."""
        path = Path(cache_dir) / "onnx" / f"{export_key(fingerprint)}.onnx"
        query_path = path.with_name(f"{path.stem}-{hashlib.sha256(INT8_RECIPE.encode()).hexdigest()[:8]}.onnx")
        if queries_only and query_precision == "int8":

            def build() -> None:
                if not path.is_file():
                    log.info("exporting the encoder trunk to %s (once per model)", path)
                    export_trunk(model, path)
                quantize_trunk(path, query_path)

            session = cached_session(query_path, build, "quantising the query trunk")
            return cls(path, session, threads, query_path, session, precision="int8")
        session = cached_session(path, lambda: export_trunk(model, path), "exporting the encoder trunk")
        if query_precision != "int8":
            return cls(path, session, threads)
        query_session = cached_session(
            query_path, lambda: quantize_trunk(path, query_path), "quantising the query trunk"
        )
        return cls(path, session, threads, query_path, query_session)

    @property
    def query_precision(self) -> Precision:
        return self._precision or ("int8" if self.query_session is not self.session else "fp32")

    def __call__(self, batch: Mapping[str, torch.Tensor], kind: str = "passage") -> torch.Tensor:
        ids = batch["input_ids"].cpu().numpy().astype(np.int64, copy=False)
        mask = batch.get("attention_mask")
        mask_np = np.ones_like(ids) if mask is None else mask.cpu().numpy().astype(np.int64, copy=False)
        return torch.from_numpy(self.run(ids, mask_np, kind))

    def run(self, ids: np.ndarray, mask: np.ndarray, kind: str = "passage") -> np.ndarray:
        """Pooled fp32 (n, dim) of int64 ``ids`` / ``mask`` (n, tokens), without torch on the way."""
        session = self.query_session if kind == "query" else self.session
        parts = min(self.threads, len(ids))
        if parts <= 1 or self._pool is None:
            return _run(session, ids, mask)
        bounds = np.linspace(0, len(ids), parts + 1).astype(int)
        slices = [(ids[a:b], mask[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        futures = [self._pool.submit(_run, session, *sl) for sl in slices[1:]]
        first = _run(session, *slices[0])  # the calling thread takes a slice too
        return np.concatenate([first, *(f.result() for f in futures)])


def cached_session(path: Path, build: Callable[[], object], what: str):
    """A session over the cached graph at ``path``; built first (``build``) when absent, or when the file is
    damaged (a cache is rebuilt, never fatal)."""
    if path.is_file():
        try:
            return cpu_session(path)
        except Exception as exc:
            log.warning("ONNX cache %s unreadable (%s): writing it again", path, exc)
            path.unlink(missing_ok=True)
    log.info("%s to %s (once per model)", what, path)
    build()
    return cpu_session(path)


def _run(session, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    width = int(mask.sum(axis=1).max()) if mask.size else 0
    if 0 < width < mask.shape[1] and mask[:, width:].sum() == 0:  # right padding no row of this slice needs
        ids, mask = ids[:, :width], mask[:, :width]
    feeds = {"input_ids": np.ascontiguousarray(ids), "attention_mask": np.ascontiguousarray(mask)}
    (pooled,) = session.run(None, feeds)
    return pooled


def resolve_runtime(runtime: Runtime, device: torch.device) -> Literal["torch", "onnx"]:
    """``auto`` → ONNX Runtime on CPU when it is installed, torch otherwise (CUDA keeps torch's fp16)."""
    if runtime == "torch":
        return "torch"
    available = True
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        available = False
    if runtime == "onnx":
        if device.type != "cpu":
            raise OnnxUnavailable(f"LIRA_RUNTIME=onnx runs on CPU only; the device is {device} (use torch or auto)")
        if not available:
            raise OnnxUnavailable("LIRA_RUNTIME=onnx but onnxruntime is not installed (pip install -e .)")
        return "onnx"
    return "onnx" if available and device.type == "cpu" else "torch"
