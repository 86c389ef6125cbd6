"""What bounds a run: the operators that take the most of its CPU time, as data.

:func:`op_shares` profiles one call (torch profiler, CPU activities) and returns the
``top`` operators by self CPU time with their share of the call's profiled CPU time,
plus the share spent inside the model's ``forward`` or ``scoring_forward`` (timed as
a profiler range).
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

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from torch.profiler import ProfilerActivity, profile, record_function

FORWARD = "model.forward"
# profiler names -> what a reader knows them as
NAMES = {
    "_scaled_dot_product_flash_attention_for_cpu": "flash attention",
    "_int_mm": "int8 mm",
}
WRAPPERS = {FORWARD, "aten::scaled_dot_product_attention"}  # ranges without own work


@contextmanager
def _timed_forward(model: Any) -> Iterator[None]:
    """Wrap ``model``'s ``forward`` and ``scoring_forward`` (where it has one) in a
    profiler range for the duration of the block."""
    names = [n for n in ("forward", "scoring_forward") if model is not None and hasattr(model, n)]
    saved = {n: (n in vars(model), getattr(model, n)) for n in names}
    for n, (_, original) in saved.items():
        setattr(model, n, _ranged(original))
    try:
        yield
    finally:
        for n, (own, original) in saved.items():
            if own:
                setattr(model, n, original)
            else:
                delattr(model, n)  # back to the class's method


def _ranged(fn: Callable[..., Any]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        with record_function(FORWARD):
            return fn(*args, **kwargs)

    return timed


def op_shares(fn: Callable[[], Any], forward: Any = None, top: int = 4) -> dict[str, Any]:
    """Profile ``fn()``: the ``top`` operators by self CPU time (short names, share of
    all operators' self CPU time) and the share of ``forward.forward``'s range."""
    with _timed_forward(forward), profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = [e for e in prof.key_averages() if e.key not in WRAPPERS]
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    ranked = sorted(events, key=lambda e: -e.self_cpu_time_total)[:top]
    fwd = sum(e.cpu_time_total for e in prof.key_averages() if e.key == FORWARD)
    return {
        "ops": [[_name(e.key), e.self_cpu_time_total / total] for e in ranked],
        "forward": min(1.0, fwd / total),
        "profiled_cpu_s": total / 1e6,
    }


def _name(key: str) -> str:
    op = key.removeprefix("aten::")
    return NAMES.get(op, op)


def bound_line(p: dict[str, Any]) -> str:
    """``forward 88%; flash attention 53%, mm 22%``: what bounds one profiled run."""
    ops = ", ".join(f"{name} {100 * share:.0f}%" for name, share in p["ops"])
    return f"forward {100 * p['forward']:.0f}%; {ops}"
