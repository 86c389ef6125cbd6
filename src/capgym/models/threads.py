"""How many compute threads scoring should use, and how they share the work.

One thread per physical core it may run on: hyper-threads share a core's vector units,
so a second thread per core only adds contention to dense float32 work; cgroup CPU
quotas (containers) cap the count too.  ``CAPGYM_THREADS`` overrides the choice.

Scoring runs those threads as *batch workers* (:func:`batch_workers`): each runs whole
batches with one torch thread, instead of one batch split across OpenMP threads.  OpenMP
threads meet at a barrier after every operation and spin while they wait, so when
another job takes a core, every operation waits for a descheduled sibling (bitllama-3M
ran 20x slower with two OpenMP threads beside other jobs than with one).  Workers never
wait for each other; beside one CPU-bound job they lose only the share of the cores it
takes.  They are faster on a quiet machine too: a small model's operations are too
short to split well (``benchmarks/RESULTS.md``).

>>> physical_cores() >= 1
True
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")
MapFn = Callable[[Callable[[T], R], Iterable[T]], list[R]]


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


def serial_map(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[fn(x) for x in items]``: batches on the calling thread."""
    return [fn(x) for x in items]


@contextmanager
def batch_workers(n: int | None = None) -> Iterator[MapFn]:
    """A ``map(fn, items)`` that runs ``fn`` on ``n`` threads, each with one torch thread.

    Results come back in the order of ``items``; every call of ``fn`` computes with one
    torch thread whichever worker runs it, so results do not depend on ``n``.  Torch's
    own thread count is set to one for the block and restored afterwards.

    >>> with batch_workers(2) as run:
    ...     run(lambda x: x * x, [1, 2, 3])
    [1, 4, 9]
    """
    n = n or scoring_threads()
    with torch_threads(1):
        if n == 1:
            yield serial_map
            return
        with ThreadPoolExecutor(n, "capgym-batch", initializer=torch.set_num_threads,
                                initargs=(1,)) as pool:  # fmt: skip
            yield lambda fn, items: list(pool.map(fn, items))
