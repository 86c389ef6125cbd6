"""Checking a ``--device`` before any model is loaded onto it.

>>> check_device("cpu")
'cpu'
"""

from __future__ import annotations

import torch

from capgym.errors import UsageError


def check_device(device: str | torch.device) -> str:
    """``device`` as a string if torch can use it here, else a one-line :class:`UsageError`.

    Catches names torch does not know (``tpu``) and devices this torch build or machine
    lacks (``cuda`` on a CPU-only torch, ``cuda:3`` on a one-GPU machine).
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise UsageError(f"unknown device {str(device)!r}; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = "this torch is CPU-only" if torch.version.cuda is None else "no GPU is visible"
            raise UsageError(f"--device {device}: {build}; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(
                f"--device {device}: only {torch.cuda.device_count()} GPU(s) visible; "
                "use cuda:0 or --device cpu"
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise UsageError(f"--device {device}: MPS is not available here; use --device cpu")
    elif dev.type != "cpu":
        raise UsageError(f"unsupported device {str(device)!r}; use cpu, cuda or cuda:N")
    return str(dev)
