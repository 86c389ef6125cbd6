"""A plain ``pip install .`` has every module capgym imports (no extras, no accidents).

Two checks against ``pyproject.toml``'s base dependencies and what they require in
turn (read with ``importlib.metadata``): every third-party module imported anywhere
under ``src/capgym`` (statically), and every module actually loaded while every shared
model loads and scores a story (dynamically: SentencePiece imports protobuf only then).
Modules of the optional engines (``ray``, ``datasets``) must be declared as extras.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "capgym"
OPTIONAL = {"ray": "ray", "datasets": "datasets"}  # module -> extra that declares it


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject() -> dict:  # type: ignore[type-arg]
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _closure(requirements: list[str]) -> set[str]:
    """Distributions reachable from ``requirements`` (no extras), normalised names."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = _norm(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            todo.extend(Requirement(r) for r in md.requires(req.name) or [])
        except md.PackageNotFoundError:
            continue  # a declared dependency not installed here: nothing below it to check
    return seen


def _distributions(module: str) -> set[str]:
    dists = md.packages_distributions().get(module)
    if not dists:
        pytest.fail(f"module {module} is imported but no installed distribution provides it")
    return {_norm(d) for d in dists}


def _static_imports() -> dict[str, set[str]]:
    """Top-level third-party module -> files of ``src/capgym`` importing it."""
    found: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "capgym":
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _check(modules: dict[str, set[str]] | set[str]) -> list[str]:
    project = _pyproject()["project"]
    base = _closure(project["dependencies"])
    extras = project.get("optional-dependencies", {})
    missing = []
    for module in sorted(modules):
        if module in OPTIONAL:
            extra = OPTIONAL[module]
            if not any(_norm(r).startswith(_norm(module)) for r in extras.get(extra, [])):
                missing.append(f"{module} (optional) is not in the [{extra}] extra")
            continue
        if not _distributions(module) & base:
            where = sorted(modules[module])[:2] if isinstance(modules, dict) else ""
            missing.append(f"{module} {where} is not a base dependency or one of theirs")
    return missing


def test_every_static_import_is_declared() -> None:
    imports = _static_imports()
    assert {"torch", "sentencepiece", "duckdb"} <= set(imports)  # the scan sees them
    assert _check(imports) == []


PROBE = r"""
import importlib, importlib.metadata as md, json, os, pkgutil, sys

ALLOWED = set(json.loads(os.environ["CAPGYM_ALLOWED_DISTS"]))
# what a venv with only the base dependencies lacks: every other distribution's modules
# (None in sys.modules: `import` raises ModuleNotFoundError, `find_spec` returns None)
for top, owners in md.packages_distributions().items():
    if top not in sys.modules and not {d.lower().replace("_", "-") for d in owners} & ALLOWED:
        sys.modules[top] = None
import torch
import capgym
from capgym.models import list_models, load_model

for mod in pkgutil.walk_packages(capgym.__path__, "capgym."):
    if mod.name not in ("capgym.score.ray_engine", "capgym.__main__"):
        importlib.import_module(mod.name)
for entry in list_models():
    if entry.source.startswith(("assets:", "cache:")):
        lm = load_model(entry.name)
        enc = lm.encode("Once upon a time, Lily saw a big dog. She said, \"Hi!\"")
        assert lm.forward(torch.tensor([enc.ids])).isfinite().all(), entry.name
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_every_shared_model_loads_and_runs_with_base_dependencies_only(assets: Path) -> None:
    """Runs with every other installed distribution hidden, as in a plain ``pip install .``.

    SentencePiece imports protobuf only when asked for offsets, so only running shows it.
    """
    allowed = _closure(_pyproject()["project"]["dependencies"]) | {"capgym"}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "CAPGYM_ALLOWED_DISTS": json.dumps(sorted(allowed))}  # fmt: skip
    res = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         env=env, timeout=600, check=False)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    loaded = set(json.loads(res.stdout.strip().splitlines()[-1]))
    assert "google" in loaded  # protobuf was needed (and allowed) for babyllama's offsets
