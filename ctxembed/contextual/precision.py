"""Encoding precision: fp32, bf16 (half weights), int8 (ONNX Runtime) or auto, checked against fp32.

A lower precision is only used after it reproduced fp32 on a fixed sample of texts (`CHECK_TEXTS`: short
and long, prose, code and queries; minimum cosine >= `MIN_COSINE`), once, when the embedder is built;
otherwise the embedder falls back to fp32 with a warning. Being fixed, the check gives the same answer in
every process, so Ray workers and later searches encode as the build did.
int8 exports the model with `torch.onnx.export`, quantises its weights per channel with
`onnxruntime.quantization.quantize_dynamic` (down-projections stay fp32: their inputs span a wide
range) and caches the result under the user cache, keyed by the model's fingerprint.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ctxembed.contextual.st_compat import backbone, set_backbone
from ctxembed.errors import ConfigError
from ctxembed.types import Precision

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MIN_COSINE = 0.99
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def native_bf16(device: str) -> bool:
    """Whether `device` computes in bf16 natively (CUDA, or a CPU with AVX-512 BF16 / AMX)."""
    if device.startswith("cuda"):
        return True
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def candidates(precision: Precision, device: str) -> list[Precision]:
    """Lower precisions to try, fastest first; fp32 is the fallback and needs no check."""
    if precision is Precision.AUTO:
        # Measured on 2 AVX-512 BF16 cores (scripts/bench_encode.py): bf16 2.2x at cosine 0.9999,
        # int8 1.4-1.8x at 0.989-0.995. Without native bf16, half precision is slower than fp32.
        found = [Precision.BF16] if native_bf16(device) else []
        if not device.startswith("cuda") and _has_onnxruntime():
            found.append(Precision.INT8)
        return found
    if precision is Precision.INT8 and device.startswith("cuda"):
        raise ConfigError("contextual.precision: int8 runs on CPU (ONNX Runtime); use bf16 or auto on CUDA")
    if precision is Precision.INT8 and not _has_onnxruntime():
        raise ConfigError("contextual.precision: int8 needs ONNX Runtime: pip install onnxruntime onnx")
    return [] if precision is Precision.FP32 else [precision]


def _has_onnxruntime() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None


def lower_precision_copy(model: SentenceTransformer, precision: Precision, cache_key: str) -> SentenceTransformer:
    """A copy of `model` that encodes at `precision` (the original stays fp32)."""
    from ctxembed.contextual.adapters import merged_copy

    twin = merged_copy(model)  # no adapter matmuls
    if precision is Precision.BF16:
        half = torch.bfloat16
        if str(twin.device).startswith("cuda") and not torch.cuda.is_bf16_supported():
            half = torch.float16
        return twin.to(half)
    set_backbone(twin, OnnxRuntimeModel(int8_model_path(twin, cache_key), backbone(twin).config))
    return twin


CHECK_TEXTS = (
    "bank",
    "open a file",
    "how do I bind a socket to a port?",
    "The river bank was flooded after the storm, so the boats stayed in the harbour.",
    "grep -r --include='*.py' 'def main' src/",
    "Returns the number of bytes read, or -1 on error, in which case errno is set to indicate the error.",
    "Quarterly revenue rose 4% as the bank raised its deposit rates; analysts expect the loan book to shrink.",
    "mkdir: cannot create directory '/var/lib/app': Permission denied",
    " ".join(
        "The scheduler assigns each process a time slice; when the slice expires, the kernel saves the "
        "registers, picks the next runnable task by priority and switches the address space.".split()
        * 4
    ),
    "What is the difference between a list and a tuple in Python?",
    "crane",
    "Les données sont enregistrées dans un fichier temporaire avant la copie.",
)


def resolve(
    model: SentenceTransformer,
    requested: Precision,
    device: str,
    *,
    name: str,
    cache_key: str,
    encode: Any,
) -> tuple[SentenceTransformer, Precision, float | None]:
    """The model to encode with, the precision it runs at and its minimum cosine against fp32 on `CHECK_TEXTS`:
    the fastest candidate that reproduces fp32 there, else fp32 (with a warning when one was asked for).

    `encode(model, texts, renormalize)` gives unit vectors of `texts`.
    """
    min_cos, reference = None, None
    for candidate in candidates(requested, device):
        twin = lower_precision_copy(model, candidate, cache_key)
        if reference is None:
            reference = encode(model, list(CHECK_TEXTS), False)
        min_cos = min_cosine(reference, encode(twin, list(CHECK_TEXTS), True))
        if min_cos >= MIN_COSINE:
            return twin, candidate, min_cos
        if requested is not Precision.AUTO:
            warn_fallback(candidate, min_cos, name)
    if requested is Precision.AUTO and min_cos is not None:
        warn_fallback(Precision.AUTO, min_cos, name)
    return model, Precision.FP32, min_cos


def min_cosine(reference: np.ndarray, candidate: np.ndarray) -> float:
    """The smallest cosine between matching rows (zero rows count as orthogonal)."""
    a = reference / np.maximum(np.linalg.norm(reference, axis=1, keepdims=True), 1e-12)
    b = candidate / np.maximum(np.linalg.norm(candidate, axis=1, keepdims=True), 1e-12)
    return float((a * b).sum(axis=1).min())


def warn_fallback(tried: Precision, min_cosine: float, name: str) -> None:
    warnings.warn(
        f"{tried.value} encoding of {name} reached minimum cosine {min_cosine:.4f} against fp32 (needs "
        f">= {MIN_COSINE}); encoding in fp32 instead. Set contextual.precision: fp32 to skip this check",
        stacklevel=4,
    )


# --- int8 through ONNX Runtime ------------------------------------------------------------------


def cache_dir() -> Path:
    """Where exported models are kept: `onnx/` in ctxembed's cache (`_io.cache_root`)."""
    from ctxembed._io import cache_root

    return cache_root() / "onnx"


def int8_model_path(model: SentenceTransformer, cache_key: str) -> Path:
    """The quantised ONNX file of `model`, exported on first use and cached by `cache_key`."""
    import onnxruntime

    key = hashlib.sha256(f"{cache_key}\0{onnxruntime.__version__}\0int8-v1".encode()).hexdigest()[:24]
    path = cache_dir() / f"{key}.int8.onnx"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        _export_int8(model, path)
    return path


def _export_int8(model: SentenceTransformer, path: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    features = model.preprocess(["an example sentence", "another, somewhat longer example sentence"])
    names = [n for n in _INPUTS if n in features]
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fp32, int8 = tmp.with_suffix(".fp32"), tmp.with_suffix(".int8")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on shapes that it exports as dynamic anyway
            torch.onnx.export(
                _ExportWrapper(backbone(model), names).eval(),
                tuple(features[n] for n in names),
                str(fp32),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
                opset_version=17,
                dynamo=False,
            )
        graph = onnx.load(str(fp32))
        weights = {w.name: w.dims for w in graph.graph.initializer}
        # Down-projections (in > out features, e.g. BERT's FFN output) read GELU outputs whose range is
        # too wide for one per-tensor activation scale: keep them fp32 (min cosine 0.989 -> 0.995).
        keep = [
            n.name
            for n in graph.graph.node
            if n.op_type == "MatMul"
            and any(len(weights.get(i, ())) == 2 and weights[i][0] > weights[i][1] for i in n.input)
        ]
        quantize_dynamic(
            str(fp32),
            str(int8),
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=keep,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        os.replace(int8, path)
    finally:
        for leftover in (fp32, int8):
            leftover.unlink(missing_ok=True)


class _ExportWrapper(torch.nn.Module):
    """Positional inputs in, last hidden state out (a bare transformers model fails on `use_cache`)."""

    def __init__(self, model: Any, names: Sequence[str]) -> None:
        super().__init__()
        self.model, self.names = model, list(names)

    def forward(self, *tensors: Any) -> Any:
        return self.model(**dict(zip(self.names, tensors)), return_dict=True).last_hidden_state


class OnnxRuntimeModel(torch.nn.Module):
    """Stands in for the transformers model inside sentence-transformers' `Transformer` module."""

    def __init__(self, path: Path, config: Any) -> None:
        import onnxruntime

        super().__init__()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.session.get_inputs()]
        self.config = config
        self.register_buffer("_device_marker", torch.zeros(0))  # sentence-transformers reads .device

    def forward(self, **inputs: Any) -> dict[str, Any]:
        feeds = {n: inputs[n].cpu().numpy() for n in self.names if n in inputs}
        if "token_type_ids" in self.names and "token_type_ids" not in feeds:
            feeds["token_type_ids"] = np.zeros_like(feeds["input_ids"])
        (hidden,) = self.session.run(None, feeds)
        return {"last_hidden_state": torch.from_numpy(hidden)}
