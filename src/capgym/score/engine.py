"""Scoring engine: every predicted token of every story, batched, cached and resumable.

Stories are cut into fixed chunks (``chunk_stories`` each, in corpus order).  Each
chunk is scored in length-bucketed batches sized by a token budget and written as one
Parquet part, atomically.  A rerun skips finished parts, so an interrupted run (Ctrl-C
or ``kill -9``) resumes and ends with exactly the rows of an uninterrupted one.

While a chunk runs on the model, the next one is tokenised in a background thread and
the previous one is turned into a table and written in another.  Distributed engines
(:mod:`capgym.score.ray_engine`) reuse :class:`Scorer` and write the same parts.

>>> settings = ScoreSettings(topk=3)
>>> settings.topk
3
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from capgym.corpus import Corpus
from capgym.errors import CheckpointError, UsageError
from capgym.models.base import LanguageModel
from capgym.models.batching import activation_width, batch_plan
from capgym.models.threads import MapFn, batch_workers, scoring_threads, serial_map, torch_threads
from capgym.progress import task_progress
from capgym.score.allocator import reuse_large_allocations
from capgym.score.batches import Batch, EncodedChunk, encode_chunk, make_batch
from capgym.score.metrics import token_metrics
from capgym.score.precision import DTYPES, Precision
from capgym.score.table import COLUMNS, scores_table
from capgym.store import RunStore, open_run, schema

ALGORITHM_VERSION = 4  # bump when the scoring maths or row layout changes (4: HF SDPA)


@dataclass(frozen=True)
class ScoreSettings:
    """Settings that can change the rows of a score set (all part of its cache key).

    ``token_budget`` caps the ids of one forward batch (None: chosen from the model's
    width, :func:`auto_token_budget`) and ``logits_mb`` the memory of its float32
    logits; a batch always holds at least one full context window.  Small batches are
    faster on CPUs: they keep a small model's activations in cache (8,192 tokens ran
    bitllama-3M at 0.7x the speed of 2,048, 1,024 at 1.1-1.2x, and a GPT-2-vocabulary
    model's logits are best kept near 160 MB); on a GPU both caps are 16x larger.  The
    cache key records the budget a model resolves to (:func:`resolve_settings`): asking
    for that budget explicitly finds the same set.
    ``dtype`` picks the forward's arithmetic (:mod:`capgym.score.precision`): float32
    (exact, default); ``bfloat16x3``, linear layers as three bfloat16 products with float32
    sums (ranks equal float32's on 99.99% of the trained models' positions; meant for GPU
    tensor cores: 0.7x float32's speed on an AMX CPU); or ``bfloat16``/``float16``
    autocast (fastest; ranks equal float32's on only 95-99%).

    >>> ScoreSettings(dtype="bfloat16x3").dtype
    'bfloat16x3'
    """

    topk: int = 5
    token_budget: int | None = None  # ids per forward batch (None: by the model's width)
    logits_mb: int = 160  # memory allowed for one batch's float32 logits
    chunk_stories: int = 128  # stories per resumable Parquet part
    dtype: str = "float32"  # "float32" (exact, default), "bfloat16x3", "bfloat16", "float16"

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise UsageError(f"unknown dtype '{self.dtype}'; use one of {', '.join(DTYPES)}")
        budget = 1 if self.token_budget is None else self.token_budget  # None: automatic
        if self.topk < 1 or self.chunk_stories < 1 or budget < 1:
            raise UsageError("topk, chunk_stories and token_budget must be positive")


@dataclass(frozen=True)
class ScoreSet:
    """Where a finished score set lives and how big it is."""

    key: str
    model: str
    corpus: str
    path: Path
    n_rows: int
    cached: bool


def score_key(
    model: LanguageModel, corpus: Corpus, settings: ScoreSettings, device: str | None = None
) -> str:
    """Cache key: model hash, tokenizer, corpus content, settings, device type, schema and
    algorithm.  ``device`` overrides the model's (a driver on CPU planning GPU workers)."""
    payload = {
        "model": model.content_hash,
        "tokenizer": model.tokenizer.content_hash,
        "corpus": corpus.content_hash,
        "settings": asdict(resolve_settings(model, settings, device)),
        "device": device or str(model.device.type),
        "schema": schema.SCHEMA_VERSION,
        "algorithm": ALGORITHM_VERSION,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


GPU_SCALE = 16  # a GPU gets batches (and logits memory) this many times larger
MAX_AUTO_BUDGET = 2048  # the automatic budget's cap (and the fixed default before it)
ACTIVATION_BYTES = 1 << 20  # one batch's widest float32 activation, on CPUs


def auto_token_budget(model: LanguageModel, device: str | None = None) -> int:
    """Ids per batch when ``token_budget`` is None: on CPUs, as many as keep one batch's
    widest activation (:func:`~capgym.models.batching.activation_width`) within
    :data:`ACTIVATION_BYTES` (half a core's 2 MiB L2), between one context window and
    :data:`MAX_AUTO_BUDGET`; on a GPU, :data:`MAX_AUTO_BUDGET`.

    Measured per CPU-second of the forward (one thread): bitllama-3M (width 256 -> 1,024)
    1.1-1.2x faster than at 2,048; TinyStories-656K (384 -> 682) 1.0-1.1x; stories260K
    (172 -> 1,524) flat from 1,024 to 4,096; the GPT-2-vocabulary configs were already
    capped near 800 by their logits (``logits_mb``).  A constant, not the machine's
    cache size, so that the same model gets the same batches (and cache key) everywhere.

    >>> from tests.spine.toy import ToyLM
    >>> auto_token_budget(ToyLM())  # exposes no torch module: the cap
    2048
    """
    width = activation_width(model)
    if (device or model.device.type) != "cpu" or not width:
        return MAX_AUTO_BUDGET
    return max(model.context_len, min(MAX_AUTO_BUDGET, ACTIVATION_BYTES // (4 * width)))


def resolve_settings(
    model: LanguageModel, settings: ScoreSettings, device: str | None = None
) -> ScoreSettings:
    """``settings`` with an automatic ``token_budget`` replaced by the model's: what cache
    keys and score-set records hold (a set's rows depend on its batches)."""
    if settings.token_budget is not None:
        return settings
    return replace(settings, token_budget=auto_token_budget(model, device))


def token_budget(model: LanguageModel, settings: ScoreSettings) -> int:
    """Ids per forward batch: ``token_budget`` (or :func:`auto_token_budget`) capped by
    ``logits_mb`` of float32 logits (both x :data:`GPU_SCALE` on a GPU), but never less
    than one context window."""
    scale = GPU_SCALE if model.device.type == "cuda" else 1
    budget = resolve_settings(model, settings).token_budget
    assert budget is not None
    by_memory = scale * (settings.logits_mb << 20) // (4 * model.vocab_size)
    return max(model.context_len, min(scale * budget, by_memory))


class Scorer:
    """Scores chunks of stories with one model (one replica; reused by distributed engines).

    Example (needs ``CAPGYM_ASSETS``)::

        from capgym.models import load_model
        s = Scorer(load_model("stories260K"), "stories260K", "demo", ScoreSettings())
        s.score_chunk([0], ["Once upon a time, there was a cat."]).num_rows
    """

    def __init__(self, model: LanguageModel, name: str, corpus: str, settings: ScoreSettings):
        self.model = model
        self.name = name
        self.corpus = corpus
        self.settings = settings
        self.budget = token_budget(model, settings)
        self.precision = Precision(settings.dtype)
        self._pieces: pa.Array | None = None

    @property
    def pieces(self) -> pa.Array:
        """Display piece of every vocabulary id (built once, used with ``take``)."""
        if self._pieces is None:
            pieces = [self.model.piece(i) for i in range(self.model.vocab_size)]
            self._pieces = pa.array(pieces, pa.string())
        return self._pieces

    def encode(self, ids: list[int], texts: list[str]) -> EncodedChunk:
        """Tokenise a chunk (thread-safe; the engine runs it ahead in a thread)."""
        return encode_chunk(self.model, ids, texts)

    def compute(self, chunk: EncodedChunk, run: MapFn = serial_map) -> dict[str, np.ndarray]:
        """Per-position columns of a chunk, in batch order (see :mod:`capgym.score.table`);
        ``run`` maps batches to columns (:func:`~capgym.models.threads.batch_workers`)."""
        plan = batch_plan(chunk.lengths, self.budget)
        parts = run(lambda b: self._score_batch(make_batch(chunk, b)), plan)
        if not parts:
            k = self.settings.topk
            empty = {c: np.zeros(0, np.int64) for c in COLUMNS}
            empty["topk_ids"] = np.zeros((0, k), np.int32)
            empty["topk_logprobs"] = np.zeros((0, k), np.float32)
            return empty
        return {c: np.concatenate([p[c] for p in parts]) for c in COLUMNS}

    def table(self, chunk: EncodedChunk, cols: dict[str, np.ndarray]) -> pa.Table:
        """The ``scores`` rows of a computed chunk, sorted by (story, pos)."""
        return scores_table(chunk, cols, self.name, self.corpus, self.pieces)

    def score_chunk(self, ids: list[int], texts: list[str]) -> pa.Table:
        """The ``scores`` rows of these stories, sorted by (story, pos)."""
        chunk = self.encode(ids, texts)
        return self.table(chunk, self.compute(chunk))

    @torch.inference_mode()
    def _score_batch(self, batch: Batch) -> dict[str, np.ndarray]:
        dev = self.model.device
        logits = self._forward(torch.from_numpy(batch.tokens).to(dev))
        m = token_metrics(
            logits.view(-1, logits.shape[-1]),
            torch.from_numpy(batch.targets),
            k=self.settings.topk,
            rows=torch.from_numpy(batch.rows),
        )
        del logits
        if not (torch.isfinite(m.logprob).all() and torch.isfinite(m.entropy).all()):
            self._non_finite(batch, m.logprob, m.entropy)
        return {
            "story": batch.story,
            "pos": batch.pos,
            "token_id": batch.targets,
            "context_len": batch.context_len,
            "logprob": m.logprob.numpy(),
            "rank": m.rank.numpy(),
            "entropy": m.entropy.numpy(),
            "topk_ids": m.topk_ids.numpy(),
            "topk_logprobs": m.topk_logprobs.numpy(),
        }

    def _non_finite(self, batch: Batch, logprob: torch.Tensor, entropy: torch.Tensor) -> None:
        """Stop scoring: non-finite log-probabilities mean broken weights (or overflow)."""
        bad = ~(torch.isfinite(logprob) & torch.isfinite(entropy))
        i = int(bad.nonzero()[0, 0])
        raise CheckpointError(
            f"model '{self.name}' gives non-finite logits ({int(bad.sum())} of {bad.numel()} "
            f"positions of a batch, first at story {int(batch.story[i])} position "
            f"{int(batch.pos[i])}); its weights may hold NaN/inf: check the checkpoint"
            + ("" if self.settings.dtype == "float32" else ", or score with --dtype float32")
        )

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.precision.forward(self.model, batch)


def _chunks(corpus: Corpus, size: int) -> Iterator[tuple[int, list[int], list[str]]]:
    for c, lo in enumerate(range(0, len(corpus), size)):
        yield c, corpus.ids[lo : lo + size], corpus.texts[lo : lo + size]


def chunk_plan(corpus: Corpus, settings: ScoreSettings) -> list[tuple[int, list[int], list[str]]]:
    """(chunk number, story ids, texts) of every chunk, in corpus order."""
    return list(_chunks(corpus, settings.chunk_stories))


def write_vocab(run: RunStore, model: LanguageModel, name: str) -> None:
    """Store ``vocab(model, token_id, piece)`` once per model (again when the name now
    has another tokenizer), so that views can show the pieces of top-k alternatives that
    never occur as actual tokens."""
    stamp = {"tokenizer": model.tokenizer.content_hash, "vocab_size": model.vocab_size}
    if run.is_fresh("vocab", name, stamp):
        return
    ids = list(range(model.vocab_size))
    table = pa.table(
        {
            "model": pa.array([name] * len(ids), pa.string()),
            "token_id": pa.array(ids, pa.int32()),
            "piece": pa.array([model.piece(i) for i in ids], pa.string()),
        }
    )
    run.write_table("vocab", name, table, stamp=stamp)


def prepare_score_set(
    model: LanguageModel,
    corpus: Corpus,
    run: RunStore,
    name: str,
    settings: ScoreSettings,
    device: str | None = None,
    threads: int | None = None,
) -> str:
    """Store the stories, register the score set and return its key.

    ``threads``, the torch threads of the replicas that compute its parts, is recorded with
    a set scored on CPUs; resuming it with another count is refused (:func:`check_threads`).
    """
    key = score_key(model, corpus, settings, device)
    dev = device or model.device.type
    settings = resolve_settings(model, settings, dev)
    if dev != "cpu":
        threads = None  # GPU kernels do not depend on the CPU thread count
    check_threads(run, key, threads)
    run.add_stories(corpus.name, corpus.ids, corpus.texts)
    larger = covering_set(run, model, corpus, name, settings, dev)
    if larger is not None and not run.is_complete(key):
        return larger  # a --limit must not replace a larger finished set in the views
    info = model.info
    run.add_model_info(
        name,
        {
            "n_params": model.n_params,
            "architecture": info.architecture,
            "tokenizer": info.tokenizer,
            "context_len": model.context_len,
            "source": info.source,
            "content_hash": model.content_hash,
            "tokenizer_hash": model.tokenizer.content_hash,
        },
    )
    write_vocab(run, model, name)
    if not run.is_complete(key):
        run.begin_score_set(
            key,
            {
                "model": name,
                "corpus": corpus.name,
                "n_stories": len(corpus),
                "n_chunks": -(-len(corpus) // settings.chunk_stories),
                "settings": asdict(settings),
                "threads": threads,
                "model_hash": model.content_hash,
                "tokenizer_hash": model.tokenizer.content_hash,
                "device": dev,
                "algorithm": ALGORITHM_VERSION,
                "story_runs": id_runs(corpus.ids),
            },
        )
    else:
        run.make_current(key)
    return key


MAX_RANGES = 64  # story-id runs recorded per score set; more, and --limit rescoring replaces


def id_runs(ids: list[int], cap: int = MAX_RANGES) -> list[list[int]] | None:
    """Story ids in corpus order as runs ``[first, last]`` of consecutive ids (None if more
    than ``cap``): a few numbers for real corpora, whose ids count up.

    >>> id_runs([0, 1, 2, 7, 8])
    [[0, 2], [7, 8]]
    """
    runs: list[list[int]] = []
    for i in ids:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
            if len(runs) > cap:
                return None
    return runs


def _is_prefix(ids: list[int], runs: list[list[int]]) -> bool:
    n = 0
    for first, last in runs:
        for i in range(first, min(last, first + len(ids) - n - 1) + 1):
            if ids[n] != i:
                return False
            n += 1
        if n == len(ids):
            return True
    return n == len(ids)


def covering_set(
    run: RunStore,
    model: LanguageModel,
    corpus: Corpus,
    name: str,
    settings: ScoreSettings,
    device: str,
) -> str | None:
    """The current finished set of (``name``, corpus) if ``corpus`` is a shorter prefix (in
    corpus order) of the corpus it scored, by the same model the same way; else None.

    Scoring the first N stories (``--limit N``) of a corpus whose larger set is finished
    then reuses that set instead of replacing it in the views; a cleaned or otherwise
    filtered corpus is no prefix and replaces it as before.  The stored texts of a corpus
    never change under an id (:meth:`RunStore.add_stories`), so equal ids mean equal text.
    """
    key = run.current_score_sets().get((name, corpus.name))
    entry = run.score_set(key) if key else {}
    runs = entry.get("story_runs")
    if not entry.get("complete") or not runs or entry.get("n_stories", 0) <= len(corpus):
        return None
    same = (
        entry.get("model_hash") == model.content_hash
        and entry.get("tokenizer_hash") == model.tokenizer.content_hash
        and entry.get("device") == device
        and entry.get("algorithm") == ALGORITHM_VERSION
        and entry.get("settings") == asdict(resolve_settings(model, settings, device))
    )
    return str(key) if same and _is_prefix(corpus.ids, runs) else None


def check_threads(run: RunStore, key: str, threads: int | None) -> None:
    """Refuse to add parts computed with ``threads`` torch threads to a started score set
    whose parts were computed with another count.

    Rows computed with several torch threads per batch depend on the count in the last
    float32 bits: an element-wise kernel (``silu``) computes the last elements of each
    thread's range, when fewer than a vector, on another path.  On CPUs every batch of
    :func:`score` runs with one torch thread (batch workers), which is what it records, so
    it resumes with any number of workers; the Ray engine records its replicas' torch
    threads.  A finished set is reused whatever the count.
    """
    entry = run.score_set(key)
    started = entry.get("threads")
    if started is None or threads is None or started == threads or entry.get("complete"):
        return
    if run.score_parts(key):
        raise UsageError(
            f"score set {key} ({entry.get('model')}) was started with {started} torch threads "
            f"per batch, this run computes with {threads}: resume it with the engine that "
            f"started it (--engine ray with CAPGYM_THREADS={started}), "
            f"or delete {run.score_set_dir(key)} to rescore it"
        )


def score(
    model: LanguageModel,
    corpus: Corpus,
    out: str | os.PathLike[str] | RunStore = "capgym-out",
    settings: ScoreSettings | None = None,
    name: str | None = None,
    progress: bool = True,
) -> ScoreSet:
    """Score every predicted token of every story of ``corpus`` into the run at ``out``.

    Cached: a finished (model, corpus, settings) set is returned at once; an
    interrupted one resumes from its last finished part with any number of batch workers
    (each batch computes with one torch thread on CPUs; a set whose parts were computed
    with another torch thread count per batch, e.g. by the Ray engine, is refused:
    :func:`check_threads`).  Runs batches on one
    worker thread per physical core, or ``CAPGYM_THREADS``, each with one torch thread
    (:func:`~capgym.models.threads.batch_workers`; torch's count is restored afterwards),
    with large freed blocks kept for reuse (:mod:`capgym.score.allocator`).

    Example (needs ``CAPGYM_ASSETS``)::

        from capgym.models import load_model
        from capgym.corpus import load_corpus
        s = score(load_model("stories260K"), load_corpus("tinystories-validation-0-999", 10))
    """
    settings = settings or ScoreSettings()
    run = out if isinstance(out, RunStore) else open_run(out)
    name = name or model.name
    run.require_writable("score")  # even a cached set records itself as current
    threads = scoring_threads()
    # rows depend on the torch threads of a batch, not on how many workers run batches:
    # on CPUs each batch computes with one torch thread (batch workers)
    per_batch = 1 if model.device.type == "cpu" else threads
    key = prepare_score_set(model, corpus, run, name, settings, threads=per_batch)
    if run.is_complete(key):
        n = int(run.score_set(key)["n_rows"])
        return ScoreSet(key, name, corpus.name, run.score_set_dir(key), n, cached=True)
    run.remove_stale_temporaries(key)
    todo = [c for c in chunk_plan(corpus, settings) if not run.has_score_part(key, c[0])]
    done = len(corpus) - sum(len(c[1]) for c in todo)
    scorer = Scorer(model, name, corpus.name, settings)
    bar = task_progress(f"score {name}", len(corpus), progress, done)
    with bar as advance, _workers(model, threads) as run_batches, reuse_large_allocations():
        _pipeline(scorer, todo, lambda c, t: run.write_score_part(key, c, t), advance, run_batches)
    n = run.finish_score_set(key)
    return ScoreSet(key, name, corpus.name, run.score_set_dir(key), n, cached=False)


@contextmanager
def _workers(model: LanguageModel, threads: int) -> Iterator[MapFn]:
    """Batch workers with one torch thread each on CPU (:func:`batch_workers`); on a
    GPU, batches in turn with ``threads`` torch threads."""
    if model.device.type == "cpu":
        with batch_workers(threads) as run:
            yield run
    else:
        with torch_threads(threads):
            yield serial_map


def _pipeline(
    scorer: Scorer,
    todo: list[tuple[int, list[int], list[str]]],
    write: Callable[[int, pa.Table], object],
    advance: Callable[[int], None],
    run_batches: MapFn = serial_map,
) -> None:
    """Encode chunk i+1 and write chunk i-1 while chunk i runs on the model."""
    with ThreadPoolExecutor(1) as encoder, ThreadPoolExecutor(1) as writer:
        ahead: Future[EncodedChunk] | None = None
        written: Future[None] | None = None
        for i, (c, ids, texts) in enumerate(todo):
            chunk = ahead.result() if ahead else scorer.encode(ids, texts)
            if i + 1 < len(todo):
                ahead = encoder.submit(scorer.encode, *todo[i + 1][1:])
            cols = scorer.compute(chunk, run_batches)
            if written:
                written.result()  # at most one table waits in memory
            written = writer.submit(_write, write, c, scorer.table, chunk, cols)
            advance(len(ids))
        if written:
            written.result()


def _write(
    write: Callable[[int, pa.Table], object],
    c: int,
    table: Callable[[EncodedChunk, dict[str, np.ndarray]], pa.Table],
    chunk: EncodedChunk,
    cols: dict[str, np.ndarray],
) -> None:
    write(c, table(chunk, cols))
