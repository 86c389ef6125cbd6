"""What bounds a run: the operators that take the most of its CPU time, as data.

:func:`op_shares` profiles one call (torch profiler, CPU activities) and returns the
``top`` operators by self CPU time with their share of the call's profiled CPU time,
plus the share of the process's CPU time spent inside the model's ``forward`` or
``scoring_forward`` or the trace its ``traced_forward`` returns (CPU time of the thread
that runs it).
:func:`bound_line` writes that as the one line ``RESULTS.md`` shows per model.

>>> import torch
>>> net = torch.nn.Linear(64, 64)
>>> p = op_shares(lambda: net(torch.randn(256, 64)), forward=net)
>>> len(p["ops"]) > 0, 0 < p["forward"] <= 1
(True, True)
>>> bound_line({"ops": [["flash attention", 0.53], ["mm", 0.22]], "forward": 0.88})
'forward 88%; flash attention 53%, mm 22%'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from torch.profiler import ProfilerActivity, profile

# profiler names -> what a reader knows them as
NAMES = {
    "_scaled_dot_product_flash_attention_for_cpu": "flash attention",
    "_int_mm": "int8 mm",
    "capgym::causal_attention_w8": "capgym attention kernel",
    "forward": "TorchScript interpreter",  # a trace's own time between its operators
}
WRAPPERS = {"aten::scaled_dot_product_attention"}  # dispatches to a kernel, no own work
FORWARDS = ("forward", "scoring_forward")  # the forwards a model runs eagerly
TRACED = "traced_forward"  # returns the TorchScript forward scoring runs, or None


@contextmanager
def _timed_forward(model: Any, spent: list[float]) -> Iterator[None]:
    """Add the CPU time of the calling thread inside ``model``'s ``forward``,
    ``scoring_forward`` and traced forward (where it has them) to ``spent[0]`` for the
    duration of the block."""
    names = [n for n in (*FORWARDS, TRACED) if model is not None and hasattr(model, n)]
    saved = {n: (n in vars(model), getattr(model, n)) for n in names}
    for n, (_, original) in saved.items():
        setattr(model, n, _timed_trace(original, spent) if n == TRACED else _timed(original, spent))
    try:
        yield
    finally:
        for n, (own, original) in saved.items():
            if own:
                setattr(model, n, original)
            else:
                delattr(model, n)  # back to the class's method


def _timed_trace(build: Callable[[], Any], spent: list[float]) -> Callable[[], Any]:
    """``traced_forward`` whose trace, when there is one, is timed like a forward."""

    def timed_build() -> Any:
        run = build()
        return None if run is None else _timed(run, spent)

    return timed_build


def _timed(fn: Callable[..., Any], spent: list[float]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[0] += time.thread_time() - start

    return timed


def op_shares(fn: Callable[[], Any], forward: Any = None, top: int = 4) -> dict[str, Any]:
    """Profile ``fn()``: the ``top`` operators by self CPU time (short names, share of
    all operators' self CPU time) and the share of the process's CPU time spent in
    ``forward``'s ``forward``/``scoring_forward`` (0 without ``forward``)."""
    spent = [0.0]
    with _timed_forward(forward, spent), profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.process_time()
        fn()
        cpu = time.process_time() - start  # not the profiler's processing at exit
    events = [e for e in prof.key_averages() if e.key not in WRAPPERS]
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    ranked = sorted(events, key=lambda e: -e.self_cpu_time_total)[:top]
    return {
        "ops": [[_name(e.key), e.self_cpu_time_total / total] for e in ranked],
        "forward": min(1.0, spent[0] / cpu) if cpu > 0 else 0.0,
        "profiled_cpu_s": cpu,
    }


def _name(key: str) -> str:
    op = key.removeprefix("aten::")
    return NAMES.get(op, op)


def bound_line(p: dict[str, Any]) -> str:
    """``forward 88%; flash attention 53%, mm 22%``: what bounds one profiled run."""
    ops = ", ".join(f"{name} {100 * share:.0f}%" for name, share in p["ops"])
    return f"forward {100 * p['forward']:.0f}%; {ops}"
