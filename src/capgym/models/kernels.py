"""A compiled causal-attention kernel for heads 8 floats wide, used by scoring on CPUs.

stories260K and llama2xs-279K run 8 heads of width 8.  On them torch's CPU flash
kernel (what ``scaled_dot_product_attention`` picks) is half of all operator time, spent
in matrix products of inner size 8; ``causal_attention.c`` holds a head in one AVX2
register and is 1.9-2.4x faster on their shapes, 0.9-1.5 against 1.8-2.8 ns per
query-key pair on one thread (``benchmarks/attention_kernel.py``).  Its logits
are not bit for bit the flash kernel's: every sum runs in another order and its ``exp``
is accurate to about 1 ulp (the flash kernel's own is a 20-ulp approximation), so
attention outputs differ by about 1e-7 relative; subnormal floats flush to zero inside
the kernel (the caller's float mode is restored).  :func:`library` refuses the kernel
unless, on random probes, it is no less accurate than torch's float32 attention
against a float64 computation (it is more accurate on all of them).

The C source is compiled on first use with the system's C compiler (``$CC``, ``cc`` or
``gcc``) into ``$CAPGYM_CACHE/kernels/`` (atomically, so processes may race) and loaded
with ``ctypes``; it is exposed as the torch operator ``capgym::causal_attention_w8`` so
that a TorchScript trace (:mod:`capgym.models.traced`) records it.  Without a compiler,
on CPUs without AVX2/FMA, on other head widths, or with ``CAPGYM_KERNEL=0``,
:func:`usable` is False and the model runs torch's kernel.  Hand-written rather than a
library's because nothing on PyPI ships attention for 8-wide heads on CPUs
(``torch.compile`` keeps the same flash kernel, and needs a C++ toolchain anyway).

>>> import torch
>>> q, k, v = torch.randn(2, 9, 4, 8), torch.randn(2, 9, 2, 8), torch.randn(2, 9, 2, 8)
>>> if usable(head_dim=8):
...     ref = reference(q, k, v)
...     assert (causal_attention(q, k, v) - ref).abs().max() < 1e-5
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import secrets
import shutil
import subprocess
import threading
from pathlib import Path

import torch
import torch.nn.functional as F

from capgym.assets import cache_dir

__all__ = ["WIDTH", "causal_attention", "library", "reference", "usable"]

WIDTH = 8  # the only head width the kernel handles (where it beats torch's)
SOURCE = Path(__file__).with_name("causal_attention.c")
FLAGS = ("-O3", "-mavx2", "-mfma", "-fPIC", "-shared")
_LOCK = threading.Lock()  # batch workers may ask at once: build and register once


def usable(head_dim: int) -> bool:
    """Whether attention over heads of ``head_dim`` floats can run on the kernel here."""
    return head_dim == WIDTH and library() is not None


def reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """torch's causal grouped-query attention (``scaled_dot_product_attention``, what the
    Llama modules run) in the kernel's layout: ``q [B, T, H, D]``, ``k``/``v [B, T, G, D]``
    -> ``[B, T, H, D]`` (a view; any head width)."""
    y = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
        is_causal=True, enable_gqa=bool(q.shape[2] != k.shape[2]),  # a trace's constant
    )  # fmt: skip
    return y.transpose(1, 2)


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal attention of ``q [B, T, H, 8]`` over ``k``/``v [B, T, G, 8]`` (query head
    ``h`` reads key/value head ``h // (H // G)``), float32 on the CPU; call only where
    :func:`usable` is True.  The kernel runs one call on one thread (capgym's batch
    workers); with more torch threads (a Ray replica's OpenMP threads) this is torch's
    attention, which splits a call across them."""
    with _LOCK:
        op = _operator()
    return op(q, k, v)  # type: ignore[no-any-return]


def library() -> ctypes.CDLL | None:
    """The compiled kernel, checked against torch on random probes; None where it cannot
    be built or loaded here, or does not match."""
    with _LOCK:
        return _library()


@functools.cache
def _library() -> ctypes.CDLL | None:
    if os.environ.get("CAPGYM_KERNEL", "").strip() == "0":
        return None
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    path = _build()
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(str(path))
    except OSError:
        return None
    if not lib.capgym_cpu_ok():
        return None
    f = lib.capgym_causal_attention
    f.restype = ctypes.c_int
    f.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int] * 4 + [ctypes.c_float]
    return lib if _matches(lib) else None


def _build() -> Path | None:
    """Compile the source once per (source, flags, compiler) into the cache."""
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return None
    tag = hashlib.sha256(SOURCE.read_bytes() + " ".join((cc, *FLAGS)).encode()).hexdigest()
    path = cache_dir() / "kernels" / f"causal_attention-{tag[:16]}.so"
    if path.exists():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{secrets.token_hex(8)}-{path.name}")
        subprocess.run(
            [cc, *FLAGS, str(SOURCE), "-o", str(tmp), "-lm"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        os.replace(tmp, path)  # whole or not at all; a racing process writes the same
    except (OSError, subprocess.SubprocessError):
        return None
    return path


def _run(lib: ctypes.CDLL, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    b, t, h, d = q.shape
    g = k.shape[2]
    if d != WIDTH or q.dtype != torch.float32 or q.device.type != "cpu" or h % g:
        raise ValueError(f"the attention kernel takes float32 CPU heads of width {WIDTH}")
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    out = torch.empty_like(q)
    ptr = [ctypes.c_void_p(x.data_ptr()) for x in (q, k, v, out)]
    if lib.capgym_causal_attention(*ptr, b, t, h, g, ctypes.c_float(d**-0.5)) != 0:
        raise MemoryError("the attention kernel could not allocate its scratch rows")
    return out


def _matches(lib: ctypes.CDLL) -> bool:
    """The kernel is no less accurate than torch's float32 attention on random probes:
    its largest error against float64 is at most twice torch's (plus 1e-6)."""
    gen = torch.Generator().manual_seed(0)
    for b, t, h, g in ((2, 37, 8, 4), (1, 5, 4, 4), (3, 64, 6, 2), (1, 300, 8, 4)):
        q, k, v = (torch.randn(b, t, n, WIDTH, generator=gen) for n in (h, g, g))
        with torch.inference_mode():
            exact = reference(q.double(), k.double(), v.double())
            ours = (_run(lib, q, k, v) - exact).abs().max()
            torch_error = (reference(q, k, v) - exact).abs().max()
        if not bool(ours <= 2 * torch_error + 1e-6):
            return False
    return True


@functools.cache
def _operator() -> torch.library.CustomOpDef:
    """The kernel as a torch operator (registered on first use, not at import)."""
    lib = _library()
    if lib is None:
        raise RuntimeError("the attention kernel is not usable here: check usable() first")

    @torch.library.custom_op("capgym::causal_attention_w8", mutates_args=())
    def op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if torch.get_num_threads() > 1:  # torch's kernel splits one call across threads
            return reference(q, k, v).contiguous()  # (a Ray replica's); ours runs on one
        return _run(lib, q, k, v)

    @op.register_fake  # type: ignore[misc]
    def _(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return torch.empty_like(q)

    return op
