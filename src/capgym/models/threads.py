"""How many compute threads scoring should use: one per physical core it may run on.

Hyper-threads share a core's vector units, so a second thread per core only adds
contention to dense float32 work; cgroup CPU quotas (containers) cap the count too.
``CAPGYM_THREADS`` overrides the choice, e.g. ``CAPGYM_THREADS=1`` on a machine shared
with other jobs, where OpenMP threads waiting on a busy core slow every operation down.

>>> physical_cores() >= 1
True
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch


def physical_cores() -> int:
    """Physical cores among the CPUs this process may use, capped by a cgroup quota."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    n = len(cpus) or (os.cpu_count() or 1)
    cores = _cores_of(cpus)
    if cores:
        n = min(n, cores)
    quota = _cgroup_quota()
    if quota:
        n = min(n, quota)
    return max(1, n)


def _cores_of(cpus: list[int]) -> int:
    """Distinct (package, core) pairs among ``cpus``, from sysfs; 0 when unknown."""
    seen = set()
    for cpu in cpus:
        topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            core = (topo / "core_id").read_text().strip()
            pkg = (topo / "physical_package_id").read_text().strip()
        except OSError:
            return 0
        seen.add((pkg, core))
    return len(seen)


def _cgroup_quota() -> int:
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except (OSError, ValueError):
        return 0
    if quota == "max":
        return 0
    return max(1, int(int(quota) // int(period)))


def scoring_threads() -> int:
    """``CAPGYM_THREADS`` when set (read now), else :func:`physical_cores`."""
    env = os.environ.get("CAPGYM_THREADS", "").strip()
    return max(1, int(env)) if env.isdigit() else physical_cores()


@contextmanager
def torch_threads(n: int | None) -> Iterator[int]:
    """Run the block with ``n`` torch threads (None: :func:`scoring_threads`), then restore."""
    before = torch.get_num_threads()
    n = n or scoring_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
