"""The arithmetic of the model's forward while scoring: exact float32, or reduced precision.

``float32`` (the default) runs the model as it is.  ``bfloat16x3`` splits every float32
value entering a linear layer into two bfloat16 numbers, ``x = x_hi + x_lo`` (16 of
float32's 24 significant bits), and computes ``x W`` as ``x_hi W_hi + x_hi W_lo + x_lo W_hi``
with float32 sums; everything else (norms, attention, the residual stream, the logits and
the metrics) stays float32.  Products of bfloat16 numbers are exact in float32, so the
matmul backend may run them on bfloat16 hardware (AMX on CPUs; TF32 tensor cores, which
hold bfloat16 values exactly, on CUDA) without changing the result beyond float32 sums.
``bfloat16`` and ``float16`` run the forward under :func:`torch.autocast`: fast where the
hardware has them, but each matmul's inputs and output (the logits included) keep only 8
or 11 significant bits.

Ranks equal to float32 ranks (``benchmarks/gpu.py``; ``benchmarks/RESULTS.md``, section
"Reduced precision"): ``bfloat16x3`` on 99.99% of the positions of stories260K and
bitllama-3M (every top-1), ``bfloat16`` 95-96%, ``float16`` 97-99%.  Speed on an AMX CPU,
TinyStories-33M forward: ``bfloat16`` 1.9x float32, ``bfloat16x3`` 0.7x (three bf16
matmuls); ``bfloat16x3`` is meant for GPUs, whose TF32 tensor cores run ~7x float32.

>>> import torch
>>> lin = torch.nn.Linear(3, 2)
>>> x = torch.randn(4, 3)
>>> with SplitBF16():
...     y = lin(x)
>>> bool((y - lin(x)).abs().max() < 1e-4)
True
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from capgym.models.base import LanguageModel

Forward = Callable[[torch.Tensor], torch.Tensor]
DTYPES = ("float32", "bfloat16x3", "bfloat16", "float16")
AUTOCAST = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def split_bf16(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(hi, lo)``: float32 tensors holding bfloat16 values with ``hi + lo ~= x``
    (relative error below 2**-16).

    >>> hi, lo = split_bf16(torch.tensor([1 / 3]))
    >>> abs(float(hi + lo) - 1 / 3) < 2**-17
    True
    """
    hi = x.to(torch.bfloat16).float()
    return hi, (x - hi).to(torch.bfloat16).float()


@contextmanager
def bf16_products(device: torch.device) -> Iterator[None]:
    """Let float32 matmuls on ``device`` run on bfloat16 hardware (for operands that hold
    bfloat16 values this changes only the speed; previous settings are restored)."""
    backend: Any = None
    fast = ""
    if device.type == "cpu" and _cpu_has_bf16():
        backend, fast = getattr(torch.backends.mkldnn, "matmul", None), "bf16"
    elif device.type == "cuda":
        backend, fast = torch.backends.cuda.matmul, "tf32"
    if backend is None or not hasattr(backend, "fp32_precision"):
        yield
        return
    before = backend.fp32_precision
    backend.fp32_precision = fast
    try:
        yield
    finally:
        backend.fp32_precision = before


class SplitBF16(TorchFunctionMode):
    """Inside ``with SplitBF16():`` every float32 ``F.linear`` (``nn.Linear``) runs as
    bfloat16 products with float32 sums: ``x_hi W_hi + x_hi W_lo + x_lo W_hi`` (``terms=3``),
    or only ``x_hi W_hi`` (``terms=1``: plain bf16 matmuls with float32 outputs).

    Reusable across batches: it keeps the split of each weight it has seen, concatenated
    along the input dimension (``terms=3``: three times the weight's float32 size), so a
    linear layer is one matmul with three times the inner dimension.
    """

    def __init__(self, terms: int = 3) -> None:
        super().__init__()
        if terms not in (1, 3):
            raise ValueError("terms must be 1 or 3")
        self.terms = terms
        self._weights: dict[int, tuple[torch.Tensor, int, torch.Tensor]] = {}

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        if func is F.linear:
            x, w, bias = (*args, None, None, None)[:3]
            x, w = kwargs.get("input", x), kwargs.get("weight", w)
            bias = kwargs.get("bias", bias)
            if _float32(x) and _float32(w):
                return self._linear(x, w, bias)
        return func(*args, **kwargs)

    def _linear(self, x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        hi, lo = split_bf16(x)
        xs = torch.cat([hi, hi, lo], -1) if self.terms == 3 else hi
        with bf16_products(x.device):
            return F.linear(xs, self._split_weight(w), bias)

    def _split_weight(self, w: torch.Tensor) -> torch.Tensor:
        cached = self._weights.get(id(w))
        if cached is not None and cached[0] is w and cached[1] == _version(w):
            return cached[2]
        hi, lo = split_bf16(w.detach())
        ws = torch.cat([hi, lo, hi], 1) if self.terms == 3 else hi
        self._weights[id(w)] = (w, _version(w), ws)
        return ws


def _float32(t: Any) -> bool:
    return isinstance(t, torch.Tensor) and t.dtype == torch.float32


def _version(t: torch.Tensor) -> int:
    """In-place update counter (-1 for inference tensors, which keep none)."""
    return -1 if t.is_inference() else t._version


@cache
def _cpu_has_bf16() -> bool:
    return bool(
        torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )


class Precision:
    """Runs a model's forward in one of :data:`DTYPES` (one per scorer; keeps split weights).

    >>> Precision("float32").dtype
    'float32'
    """

    def __init__(self, dtype: str) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype '{dtype}'; use one of {', '.join(DTYPES)}")
        self.dtype = dtype
        self._split = SplitBF16(3) if dtype == "bfloat16x3" else None
        self._traced: tuple[LanguageModel, Forward | None] | None = None
        self._lock = threading.Lock()

    def forward(self, model: LanguageModel, ids: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, T, V]`` of ``ids`` (on the model's device).

        float32: through the model's ``traced_forward`` where it offers one (capgym's
        llama2.c/bitllama models on CPUs: the module's logits, bit for bit except where
        8-wide heads run on :mod:`capgym.models.kernels`, without Python between
        operators or the GIL, :mod:`capgym.models.traced`; asked for once
        per :class:`Precision`, so per scoring run; ``CAPGYM_TRACE=0`` turns it off),
        else like every dtype through :func:`scoring_forward`.
        """
        run = self._fast(model) or scoring_forward(model)
        if self._split is not None:
            with self._split:
                return run(ids)
        if self.dtype in AUTOCAST:
            with torch.autocast(ids.device.type, dtype=AUTOCAST[self.dtype]):
                return run(ids)
        return run(ids)

    def _fast(self, model: LanguageModel) -> Forward | None:
        if self.dtype != "float32" or os.environ.get("CAPGYM_TRACE", "").strip() == "0":
            return None
        with self._lock:  # batch workers call this at once; trace one model once
            if self._traced is None or self._traced[0] is not model:
                build = getattr(model, "traced_forward", None)
                self._traced = (model, build() if build is not None else None)
            return self._traced[1]


def scoring_forward(model: LanguageModel) -> Callable[[torch.Tensor], torch.Tensor]:
    """The eager forward scoring runs (where no trace is used, :meth:`Precision.forward`):
    ``model.scoring_forward`` if the model offers one, else ``model.forward``.

    >>> from tests.spine.toy import ToyLM
    >>> m = ToyLM()
    >>> scoring_forward(m) == m.forward
    True
    """
    return getattr(model, "scoring_forward", model.forward)  # type: ignore[no-any-return]
