"""The Ray engine writes exactly the local engine's rows, and survives killed workers.

One local Ray instance (2 CPUs) serves the whole module; stories260K on a subset of
the validation stories keeps it to a few seconds of scoring.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from capgym.corpus import Corpus, load_corpus
from capgym.score import ScoreSettings, score
from capgym.store import open_run

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

SETTINGS = ScoreSettings(chunk_stories=8)


@pytest.fixture(scope="module", autouse=True)
def one_thread_per_replica() -> Iterator[None]:
    """Some float32 kernels depend on the number of threads in the last bits, so
    bit-identical rows need the same threads per replica: here 1 for the local engine
    and each Ray worker."""
    old = os.environ.get("CAPGYM_THREADS")
    os.environ["CAPGYM_THREADS"] = "1"
    yield
    if old is None:
        del os.environ["CAPGYM_THREADS"]
    else:
        os.environ["CAPGYM_THREADS"] = old


@pytest.fixture(scope="module")
def ray_local(one_thread_per_replica: None) -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def stories(assets: Path) -> Corpus:
    return load_corpus("tinystories-validation-0-999").head(64)


@pytest.fixture(scope="module")
def local_rows(
    one_thread_per_replica: None, stories: Corpus, tmp_path_factory: pytest.TempPathFactory
) -> pd.DataFrame:
    from capgym.models import load_model

    out = tmp_path_factory.mktemp("local")
    score(load_model("stories260K"), stories, out, SETTINGS, name="stories260K", progress=False)
    return _rows(out)


def _rows(out: Path) -> pd.DataFrame:
    return open_run(out).sql("SELECT * FROM scores ORDER BY story, pos")


def _parts(out: Path) -> list[Path]:
    return sorted(out.glob("scores/*/part-*.parquet"))


@pytest.fixture(scope="module")
def ray_run(ray_local, stories: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from capgym.score.ray_engine import score_ray

    out = tmp_path_factory.mktemp("ray")
    s = score_ray("stories260K", stories, out, SETTINGS, workers=2, progress=False)
    assert not s.cached
    return out


def test_ray_rows_equal_local_rows(ray_run, stories, local_rows) -> None:
    from capgym.score.ray_engine import score_ray

    assert len(_parts(ray_run)) == 8
    pd.testing.assert_frame_equal(_rows(ray_run), local_rows)
    again = score_ray("stories260K", stories, ray_run, SETTINGS, workers=2, progress=False)
    assert again.cached and again.n_rows == len(local_rows)


def test_killed_worker_is_restarted_and_rows_are_identical(
    ray_local, stories, local_rows, tmp_path
) -> None:
    from capgym.models import load_model
    from capgym.score.engine import score_key
    from capgym.score.ray_engine import NAMESPACE, score_ray, worker_name

    key = score_key(load_model("stories260K"), stories, SETTINGS, "cpu")
    result: dict[str, object] = {}

    def drive() -> None:
        result["set"] = score_ray("stories260K", stories, tmp_path, SETTINGS, progress=False)

    driver = threading.Thread(target=drive)
    driver.start()
    killed_with = None
    deadline = time.time() + 60
    while driver.is_alive() and time.time() < deadline:
        if _parts(tmp_path):
            try:
                actor = ray.get_actor(worker_name(key, 0), namespace=NAMESPACE)
            except ValueError:
                continue
            killed_with = len(_parts(tmp_path))
            ray.kill(actor, no_restart=False)
            break
        time.sleep(0.01)
    driver.join(timeout=120)
    assert killed_with is not None and killed_with < 8, "the run ended before the kill"
    assert result["set"].n_rows == len(local_rows)  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(_rows(tmp_path), local_rows)


def test_killed_driver_resumes_from_finished_parts(ray_run, stories, local_rows, tmp_path) -> None:
    from capgym.score.ray_engine import score_ray

    shutil.copytree(ray_run, tmp_path, dirs_exist_ok=True)
    (key,) = open_run(tmp_path).manifest["score_sets"]
    # what a driver killed mid-run leaves: some parts, a stale temporary, no completion
    parts = _parts(tmp_path)
    for p in parts[2:5]:
        p.unlink()
    (parts[0].parent / ".tmp-half.parquet").write_bytes(b"PAR1 torn")
    run = open_run(tmp_path)
    run.manifest["score_sets"][key]["complete"] = False
    run.save_manifest()
    kept = {p: p.stat().st_mtime_ns for p in parts[:2] + parts[5:]}
    resumed = score_ray("stories260K", stories, tmp_path, SETTINGS, progress=False)
    assert not resumed.cached and resumed.key == key
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())  # not redone
    assert not list(parts[0].parent.glob(".tmp-*"))
    pd.testing.assert_frame_equal(_rows(tmp_path), local_rows)
