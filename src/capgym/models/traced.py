"""A capgym Llama's forward as a TorchScript graph: no Python between operators.

Scoring runs many forwards of small models, where Python's dispatch of each operator
is a tenth of the time (stories260K: 1.5 ms of a 33 ms batch) and, with several batch
workers in one process, is serialised by the GIL (bitllama-3M: two workers 1.6-1.8x one,
two processes 2.0x).  A trace runs the same ATen kernels in the same order from C++,
without the GIL.  It is run with the graph executor's optimisations off
(:func:`torch.jit.optimized_execution`), so no pass fuses or reorders anything: the
logits are bit for bit those of the eager module (checked on two probe shapes when
the trace is built, and on random shapes in ``tests/models/test_traced.py``).

Used only by scoring on CPUs (:class:`capgym.score.precision.Precision`), never while
hooks are attached (a trace would ignore them); where tracing fails or TorchScript is
gone from a future torch, :func:`trace_forward` returns None and scoring runs the
module eagerly.  ``torch.jit.trace`` is deprecated in favour of ``torch.compile``,
which on CPUs needs a C++ compiler at run time; the trace needs nothing.

>>> import torch
>>> from capgym.models.llama import Llama, LlamaConfig
>>> cfg = LlamaConfig(dim=16, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=32,
...                   hidden_dim=24, max_seq_len=8)
>>> module = Llama(cfg).eval()
>>> fast = trace_forward(module)
>>> ids = torch.tensor([[1, 5, 7, 2, 9]])
>>> bool(torch.equal(fast(ids), module(ids)))
True
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

import torch
from torch import nn

from capgym.models.modules import has_hooks

__all__ = ["Forward", "trace_forward", "weights_key"]

Forward = Callable[[torch.Tensor], torch.Tensor]

# probe inputs: the trace is built on the first and checked on both (odd sizes catch
# shapes a trace might have kept as constants)
_PROBES = ((2, 8), (3, 5))
# how TorchScript words a KeyboardInterrupt raised inside a Python-backed operator
_INTERRUPTED = re.compile(r"^(?:RuntimeError: )?KeyboardInterrupt\b", re.MULTILINE)


def weights_key(module: nn.Module) -> tuple[tuple[int, int], ...]:
    """Storage address and in-place version of every parameter and buffer: changes when
    a weight is replaced or edited in place (then a trace's constants may be stale)."""
    tensors = [*module.parameters(), *module.buffers()]
    return tuple((t.data_ptr(), -1 if t.is_inference() else t._version) for t in tensors)


def trace_forward(module: nn.Module, vocab_size: int | None = None) -> Forward | None:
    """``module``'s forward ``ids [B, T] -> logits`` as a TorchScript trace, or None
    where tracing fails or the trace's logits differ from the module's on a probe.

    ``vocab_size`` bounds the random probe ids (default: the module's ``cfg``).
    """
    if has_hooks(module):
        return None
    vocab = vocab_size or getattr(getattr(module, "cfg", None), "vocab_size", None) or 2
    device = next(module.parameters()).device
    gen = torch.Generator().manual_seed(0)
    probes = [torch.randint(0, vocab, shape, generator=gen).to(device) for shape in _PROBES]
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecation and tracer warnings
            want = [module(p) for p in probes]  # also fills the module's caches (int8
            # codes), which the trace then holds as constants: hence :func:`weights_key`
            traced = torch.jit.trace(module, probes[0], check_trace=False)
            run = _unoptimised(traced, device)
            if not all(torch.equal(run(p), w) for p, w in zip(probes, want)):
                return None
    except Exception:  # noqa: BLE001 (any failure to trace means: run eagerly)
        return None
    return run


def _unoptimised(traced: torch.jit.ScriptModule, device: torch.device) -> Forward:
    def run(ids: torch.Tensor) -> torch.Tensor:
        # optimized_execution is thread-local: no fusion or reordering pass runs
        with torch.inference_mode(), torch.jit.optimized_execution(False):
            try:
                return traced(ids.to(device))  # type: ignore[no-any-return]
            except RuntimeError as e:  # Ctrl-C inside a Python-backed operator (the
                # attention kernel's) reaches here wrapped by the TorchScript interpreter
                if _INTERRUPTED.search(str(e)):
                    raise KeyboardInterrupt from None
                raise

    run.graph = traced.inlined_graph  # type: ignore[attr-defined]  # which kernels it runs
    return run
