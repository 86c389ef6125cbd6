"""Scoring engine: every predicted token of every story, batched, cached and resumable.

Stories are cut into fixed chunks (``chunk_stories`` each, in corpus order).  Each
chunk is scored in length-bucketed batches sized by a token budget and written as one
Parquet part, atomically.  A rerun skips finished parts, so an interrupted run (Ctrl-C
or ``kill -9``) resumes and ends with exactly the rows of an uninterrupted one.

>>> settings = ScoreSettings(topk=3)
>>> settings.topk
3
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from capgym.corpus import Corpus
from capgym.models.base import Encoding, LanguageModel
from capgym.progress import task_progress
from capgym.score.metrics import token_metrics
from capgym.score.windows import Window, plan_windows
from capgym.store import RunStore, open_run, schema
from capgym.store.run import write_parquet_atomic

ALGORITHM_VERSION = 1  # bump when the scoring maths or row layout changes


@dataclass(frozen=True)
class ScoreSettings:
    """Settings that can change the rows of a score set (all part of its cache key)."""

    topk: int = 5
    token_budget: int = 8192  # ids per forward batch (further capped by logits_mb)
    logits_mb: int = 768  # memory allowed for one batch's float32 logits
    chunk_stories: int = 128  # stories per resumable Parquet part
    dtype: str = "float32"  # "float32" (exact, default), or "bfloat16"/"float16" on CUDA


@dataclass(frozen=True)
class ScoreSet:
    """Where a finished score set lives and how big it is."""

    key: str
    model: str
    corpus: str
    path: Path
    n_rows: int
    cached: bool


def score_key(model: LanguageModel, corpus: Corpus, settings: ScoreSettings) -> str:
    """Cache key: model hash, tokenizer, corpus content, settings, schema and algorithm."""
    payload = {
        "model": model.content_hash,
        "tokenizer": model.tokenizer.content_hash,
        "corpus": corpus.content_hash,
        "settings": asdict(settings),
        "device": str(model.device.type),
        "schema": schema.SCHEMA_VERSION,
        "algorithm": ALGORITHM_VERSION,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def batch_plan(lengths: list[int], budget: int) -> list[list[int]]:
    """Group items (by index) into batches: longest first, ``len(batch) * max_len <= budget``.

    >>> batch_plan([3, 8, 5, 2], budget=10)
    [[1], [2, 0], [3]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        width = lengths[cur[0]] if cur else lengths[i]
        if cur and (len(cur) + 1) * width > budget:
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches


class _Chunk:
    """Encoded stories of one chunk and the windows to run."""

    def __init__(self, model: LanguageModel, ids: list[int], texts: list[str]):
        self.story_ids = ids
        self.encodings: list[Encoding] = [model.encode(t) for t in texts]
        self.items: list[tuple[int, Window]] = [
            (si, w)
            for si, enc in enumerate(self.encodings)
            for w in plan_windows(len(enc.ids), model.context_len)
        ]


class Scorer:
    """Scores chunks of stories with one model (one replica; reused by distributed engines)."""

    def __init__(self, model: LanguageModel, name: str, corpus: str, settings: ScoreSettings):
        self.model = model
        self.name = name
        self.corpus = corpus
        self.settings = settings
        per_token = 4 * model.vocab_size
        self.budget = max(
            model.context_len, min(settings.token_budget, (settings.logits_mb << 20) // per_token)
        )
        self._pieces: dict[int, str] = {}

    def piece(self, tid: int) -> str:
        p = self._pieces.get(tid)
        if p is None:
            p = self._pieces[tid] = self.model.piece(tid)
        return p

    @torch.no_grad()
    def score_chunk(self, ids: list[int], texts: list[str]) -> pa.Table:
        """The ``scores`` rows of these stories, sorted by (story, pos)."""
        chunk = _Chunk(self.model, ids, texts)
        cols: dict[str, list[np.ndarray]] = {c: [] for c in _NUMERIC}
        lengths = [w.length for _, w in chunk.items]
        for batch in batch_plan(lengths, self.budget):
            self._score_batch(chunk, [chunk.items[i] for i in batch], cols)
        return self._assemble(chunk, cols)

    def _score_batch(
        self, chunk: _Chunk, items: list[tuple[int, Window]], cols: dict[str, list[np.ndarray]]
    ) -> None:
        width = max(w.length for _, w in items)
        batch = torch.zeros(len(items), width, dtype=torch.long)
        rows, targets, story, pos, ctx = [], [], [], [], []
        for b, (si, w) in enumerate(items):
            seq = chunk.encodings[si].ids
            batch[b, : w.length] = torch.tensor(seq[w.start : w.end])
            ps = np.arange(w.first, w.end)
            rows.append(b * width + (ps - w.start - 1))
            targets.append(np.asarray(seq, dtype=np.int64)[ps])
            story.append(np.full(len(ps), si))
            pos.append(ps)
            ctx.append(ps - w.start)
        dev = self.model.device
        logits = self._forward(batch.to(dev))
        flat = logits.reshape(-1, logits.shape[-1])
        m = token_metrics(
            flat,
            torch.from_numpy(np.concatenate(targets)).to(dev),
            k=self.settings.topk,
            rows=torch.from_numpy(np.concatenate(rows)).to(dev),
        )
        cols["_story"].append(np.concatenate(story))
        cols["pos"].append(np.concatenate(pos))
        cols["token_id"].append(np.concatenate(targets))
        cols["context_len"].append(np.concatenate(ctx))
        cols["logprob"].append(m.logprob.numpy())
        cols["rank"].append(m.rank.numpy())
        cols["entropy"].append(m.entropy.numpy())
        cols["topk_ids"].append(m.topk_ids.numpy())
        cols["topk_logprobs"].append(m.topk_logprobs.numpy())

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        dtype = self.settings.dtype
        if dtype == "float32" or batch.device.type != "cuda":
            return self.model.forward(batch)
        with torch.autocast("cuda", dtype=getattr(torch, dtype)):
            return self.model.forward(batch)

    def _assemble(self, chunk: _Chunk, cols: dict[str, list[np.ndarray]]) -> pa.Table:
        if not cols["pos"]:
            return schema.SCORES.empty_table()
        c = {name: np.concatenate(v) for name, v in cols.items()}
        order = np.lexsort((c["pos"], c["_story"]))
        c = {name: v[order] for name, v in c.items()}
        sidx = c["_story"]
        spans = [np.asarray(e.spans, dtype=np.int32).reshape(-1, 2) for e in chunk.encodings]
        base = np.cumsum([0] + [len(sp) for sp in spans])[:-1]
        all_spans = np.concatenate(spans) if spans else np.zeros((0, 2), np.int32)
        at = base[sidx] + c["pos"]
        cs, ce = all_spans[at, 0], all_spans[at, 1]
        n = len(sidx)
        story_ids = np.asarray(chunk.story_ids, dtype=np.int64)[sidx]
        kk = c["topk_ids"].shape[1]
        return pa.table(
            {
                "model": pa.array([self.name] * n, pa.string()),
                "corpus": pa.array([self.corpus] * n, pa.string()),
                "story": pa.array(story_ids, pa.int64()),
                "pos": pa.array(c["pos"].astype(np.int32)),
                "token_id": pa.array(c["token_id"].astype(np.int32)),
                "token": pa.array([self.piece(int(t)) for t in c["token_id"]], pa.string()),
                "char_start": pa.array(np.asarray(cs, dtype=np.int32)),
                "char_end": pa.array(np.asarray(ce, dtype=np.int32)),
                "logprob": pa.array(c["logprob"].astype(np.float32)),
                "rank": pa.array(c["rank"].astype(np.int32)),
                "entropy": pa.array(c["entropy"].astype(np.float32)),
                "context_len": pa.array(c["context_len"].astype(np.int32)),
                "topk_ids": _list_array(c["topk_ids"].astype(np.int32), kk, pa.int32()),
                "topk_logprobs": _list_array(
                    c["topk_logprobs"].astype(np.float32), kk, pa.float32()
                ),
            },
            schema=schema.SCORES,
        )


_NUMERIC = ["_story", "pos", "token_id", "context_len", "logprob", "rank", "entropy"]
_NUMERIC += ["topk_ids", "topk_logprobs"]


def _list_array(m: np.ndarray, k: int, t: pa.DataType) -> pa.Array:
    offsets = pa.array(np.arange(0, m.shape[0] * k + 1, k, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(m.reshape(-1), t))


def _chunks(corpus: Corpus, size: int) -> Iterator[tuple[int, list[int], list[str]]]:
    for c, lo in enumerate(range(0, len(corpus), size)):
        yield c, corpus.ids[lo : lo + size], corpus.texts[lo : lo + size]


def part_path(run: RunStore, key: str, chunk: int) -> Path:
    return run.score_set_dir(key) / f"part-{chunk:05d}.parquet"


def prepare_score_set(
    model: LanguageModel, corpus: Corpus, run: RunStore, name: str, settings: ScoreSettings
) -> str:
    """Store the stories, register the score set and return its key."""
    run.add_stories(corpus.name, corpus.ids, corpus.texts)
    key = score_key(model, corpus, settings)
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
    if not run.is_complete(key):
        run.begin_score_set(
            key,
            {
                "model": name,
                "corpus": corpus.name,
                "n_stories": len(corpus),
                "n_chunks": -(-len(corpus) // settings.chunk_stories),
                "settings": asdict(settings),
            },
        )
    else:  # make it current again
        run.manifest.setdefault("current", {})[f"{name}\x00{corpus.name}"] = key
        run.save_manifest()
    return key


def finish_score_set(run: RunStore, key: str) -> int:
    """Count rows of a fully written score set and mark it complete."""
    n = sum(
        pq.ParquetFile(p).metadata.num_rows for p in run.score_set_dir(key).glob("part-*.parquet")
    )
    run.finish_score_set(key, n)
    return n


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
    interrupted one resumes from its last finished part.

    Example (needs ``CAPGYM_ASSETS``)::

        from capgym.models import load_model
        from capgym.corpus import load_corpus
        s = score(load_model("stories260K"), load_corpus("tinystories-validation-0-999", 10))
    """
    settings = settings or ScoreSettings()
    run = out if isinstance(out, RunStore) else open_run(out)
    name = name or model.name
    key = prepare_score_set(model, corpus, run, name, settings)
    if run.is_complete(key):
        n = int(run.manifest["score_sets"][key]["n_rows"])
        return ScoreSet(key, name, corpus.name, run.score_set_dir(key), n, cached=True)
    scorer = Scorer(model, name, corpus.name, settings)
    for stale in run.score_set_dir(key).glob(".tmp-*"):  # left by a killed writer
        stale.unlink(missing_ok=True)
    chunks = list(_chunks(corpus, settings.chunk_stories))
    todo = [c for c in chunks if not part_path(run, key, c[0]).exists()]
    done_stories = len(corpus) - sum(len(c[1]) for c in todo)
    writer = ThreadPoolExecutor(max_workers=1)  # Parquet writing overlaps the next chunk
    pending: list[Future[None]] = []
    try:
        with task_progress(f"score {name}", len(corpus), progress, done_stories) as advance:
            for c, ids, texts in todo:
                table = scorer.score_chunk(ids, texts)
                pending.append(writer.submit(write_parquet_atomic, table, part_path(run, key, c)))
                advance(len(ids))
            for f in pending:
                f.result()
    finally:
        writer.shutdown(wait=True)
    n = finish_score_set(run, key)
    return ScoreSet(key, name, corpus.name, run.score_set_dir(key), n, cached=False)
