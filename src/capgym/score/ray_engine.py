"""Distributed scoring with Ray: the chunk plan sharded across actors, one model each.

The driver plans the same chunks as the local engine (:func:`capgym.score.score`),
skips the ones whose Parquet part exists, and hands the rest to a pool of Ray actors
(:class:`ray.util.ActorPool`; Ray does the scheduling).  Each actor holds one replica
of the model (on a GPU when the cluster has GPUs: ``num_gpus=1`` per actor), scores a
chunk with :class:`capgym.score.Scorer` and writes its part atomically under the same
name, so the store ends with exactly the local engine's rows when both run the same torch
threads per replica (CPU rows depend on the count in the last bits; on GPU workers: the
rows the local engine writes on that GPU, cached as their own score set).  A killed actor is
restarted by Ray and its chunk retried; a killed driver loses nothing but the parts in
flight: run the same command again and it resumes (a set is resumed only with the thread
count it started with: :func:`capgym.score.engine.check_threads`).

Locally (``address=None``) a private Ray instance is started with ``num_cpus=workers``
and every worker uses ``physical cores / workers`` torch threads.  On a cluster
(``address="ray://head:10001"`` or ``"auto"``) every node must have capgym installed,
the model available under the same name (``CAPGYM_ASSETS`` is passed on when set), and
**the run folder must be on storage that every node shares** (NFS, a mounted bucket),
because workers write their parts straight into it.

Example (needs ``CAPGYM_ASSETS``)::

    from capgym.corpus import load_corpus
    s = score_ray("stories260K", load_corpus("tinystories-validation-0-999", 100),
                  "capgym-out", workers=2)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capgym.corpus import Corpus
from capgym.models.threads import scoring_threads
from capgym.score.engine import Scorer, ScoreSet, ScoreSettings, chunk_plan, prepare_score_set
from capgym.store import RunStore, open_run
from capgym.store.files import write_parquet_atomic

NAMESPACE = "capgym"
# passed on to workers when set in the driver's environment
ENV_VARS = ("CAPGYM_ASSETS", "HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


@dataclass(frozen=True)
class WorkerSpec:
    """What each actor reserves and runs with."""

    cpus: float
    gpus: float
    threads: int
    device: str


class ScoreWorker:
    """A Ray actor body: one model replica that scores chunks into Parquet parts."""

    def __init__(
        self, model_name: str, name: str, corpus: str, settings: ScoreSettings, spec: WorkerSpec
    ) -> None:
        import torch

        from capgym.models import load_model
        from capgym.score.allocator import keep_large_blocks

        torch.set_num_threads(spec.threads)
        keep_large_blocks()  # a worker process only scores
        self.scorer = Scorer(load_model(model_name, device=spec.device), name, corpus, settings)

    def score_part(self, chunk: int, ids: list[int], texts: list[str], path: str) -> int:
        """Score one chunk and write it to ``path`` atomically; returns its story count."""
        write_parquet_atomic(self.scorer.score_chunk(ids, texts), Path(path))
        return len(ids)


def worker_name(key: str, i: int) -> str:
    """Ray name (namespace :data:`NAMESPACE`) of actor ``i`` scoring set ``key``."""
    return f"capgym-score-{key}-{i}"


def score_ray(
    model_name: str,
    corpus: Corpus,
    out: str | os.PathLike[str] | RunStore = "capgym-out",
    settings: ScoreSettings | None = None,
    address: str | None = None,
    workers: int = 2,
    *,
    name: str | None = None,
    progress: bool = True,
    cpus_per_worker: int | None = None,
) -> ScoreSet:
    """Score ``corpus`` with ``workers`` Ray actors; same store and rows as :func:`score`.

    Uses the Ray instance this process is already connected to, else connects to
    ``address``, else starts a private local one (shut down afterwards).  See the
    module docstring for cluster requirements and an example.
    """
    import ray

    from capgym.models import load_model

    settings = settings or ScoreSettings()
    run = out if isinstance(out, RunStore) else open_run(out)
    name = name or model_name
    started = _connect(address, workers)
    try:
        spec = _worker_spec(workers, cpus_per_worker, local=started)
        model = load_model(model_name)  # for the cache key and model facts only
        key = prepare_score_set(
            model, corpus, run, name, settings, device=spec.device, threads=spec.threads
        )
        del model
        if run.is_complete(key):
            n = int(run.score_set(key)["n_rows"])
            return ScoreSet(key, name, corpus.name, run.score_set_dir(key), n, cached=True)
        run.remove_stale_temporaries(key)
        todo = [c for c in chunk_plan(corpus, settings) if not run.has_score_part(key, c[0])]
        if todo:
            _run_pool(model_name, name, corpus, settings, spec, run, key, todo, workers, progress)
    finally:
        if started:
            ray.shutdown()
    n = run.finish_score_set(key)
    return ScoreSet(key, name, corpus.name, run.score_set_dir(key), n, cached=False)


def _connect(address: str | None, workers: int) -> bool:
    """Connect to Ray; True when this call started a private local instance."""
    import ray

    if ray.is_initialized():
        return False
    env = {k: os.environ[k] for k in ENV_VARS if k in os.environ}
    if address:
        ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=False)
        return False
    ray.init(
        num_cpus=workers,
        num_gpus=_local_gpus(),
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": env},
    )
    return True


def _local_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _worker_spec(workers: int, cpus_per_worker: int | None, local: bool) -> WorkerSpec:
    """One GPU per actor when the cluster has at least ``workers`` GPUs; else CPUs."""
    import ray

    resources = ray.cluster_resources()
    if resources.get("GPU", 0) >= workers:
        return WorkerSpec(cpus=1, gpus=1, threads=1, device="cuda")
    if local:
        threads = max(1, scoring_threads() // workers)  # CAPGYM_THREADS caps the whole machine
        return WorkerSpec(cpus=1, gpus=0, threads=threads, device="cpu")
    per_node = max((n["Resources"].get("CPU", 1) for n in ray.nodes() if n["Alive"]), default=1)
    cpus = cpus_per_worker or max(1, int(min(per_node, resources.get("CPU", 1) // workers)))
    return WorkerSpec(cpus=cpus, gpus=0, threads=int(cpus), device="cpu")


def _run_pool(
    model_name: str,
    name: str,
    corpus: Corpus,
    settings: ScoreSettings,
    spec: WorkerSpec,
    run: RunStore,
    key: str,
    todo: list[tuple[int, list[int], list[str]]],
    workers: int,
    progress: bool,
) -> None:
    import ray
    from ray.util import ActorPool

    from capgym.progress import task_progress

    actor_cls = ray.remote(ScoreWorker)
    actors: list[Any] = [
        actor_cls.options(
            name=worker_name(key, i),
            namespace=NAMESPACE,
            num_cpus=spec.cpus,
            num_gpus=spec.gpus,
            max_restarts=-1,  # a killed worker comes back ...
            max_task_retries=-1,  # ... and redoes its chunk
        ).remote(model_name, name, corpus.name, settings, spec)
        for i in range(min(workers, len(todo)))
    ]
    done = len(corpus) - sum(len(c[1]) for c in todo)
    try:
        with task_progress(f"score {name} (ray)", len(corpus), progress, done) as advance:
            pool = ActorPool(actors)
            jobs = pool.map_unordered(
                lambda a, c: a.score_part.remote(
                    c[0], c[1], c[2], str(run.score_part_path(key, c[0]))
                ),
                todo,
            )
            for n_stories in jobs:
                advance(n_stories)
    finally:
        for a in actors:
            ray.kill(a, no_restart=True)
