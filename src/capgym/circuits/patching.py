"""Batched node interventions: many (component set, pair) variants in one forward.

A *variant* is a boolean vector over the components (:class:`~capgym.circuits.hooks.Component`):
``True`` keeps the component's clean activation, ``False`` replaces it by a *source*
(its activation on the corrupted prompt of the same pair, or its mean over the clean
prompts).  :func:`run_variants` evaluates ``V`` variants on ``P`` pairs as ``V x P``
rows, chunked, and returns the decision-point logit difference of every row, so that
patching every head and MLP one at a time, or scoring a whole curve of circuits, is a
handful of forwards instead of ``V x P`` of them.

A variant is either ``[n_components]`` (a component is kept or replaced at every
position) or ``[n_components, T]`` with ``T = ps.clean.shape[1]``: ``keep[c, k]`` keeps
component ``c`` at the token ``k`` places before each pair's decision token (``k = 0``
is the decision token; :class:`~capgym.circuits.hooks.Node`).  Positions are counted
back because pairs differ in length; in a pair of ``n`` tokens the entries ``k >= n``
name no token and have no effect, and the right padding after the decision token is
never replaced (it cannot reach the decision).  Clean and corrupted prompts of a pair
have the same length (see :mod:`capgym.circuits.pairs`).

>>> from capgym.models import load_model
>>> from capgym.tasks import make
>>> from capgym.circuits.pairs import build_pairs
>>> hm = HookedModel(load_model("stories260K"))
>>> ps = build_pairs(hm.lm, make("repeated-name", n=20), limit=4)
>>> src = sources(hm, ps, "patch")
>>> keep = torch.ones(2, len(hm.components), dtype=torch.bool); keep[1] = False
>>> m = run_variants(hm, ps, src, keep)
>>> m.shape, bool(torch.allclose(m[1], logit_diff(hm.run(ps.corrupt)[0], ps), atol=1e-4))
(torch.Size([2, 4]), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from capgym.circuits.hooks import Edit, HookedModel, patch
from capgym.circuits.pairs import PairSet, logit_diff
from capgym.errors import UsageError

MODES = ("patch", "mean", "zero", "resample")
ROWS_PER_FORWARD = 2048


@dataclass
class Sources:
    """Replacement activations per hook: ``[P, T, ...]`` (patch) or ``[1, 1, ...]`` (mean, zero)."""

    mode: str
    values: dict[str, torch.Tensor]
    per_pair: bool


def _hooks(hm: HookedModel) -> list[str]:
    names = ["hook_embed"]
    for layer in range(hm.points.n_layers):
        names += [f"blocks.{layer}.attn.hook_z", f"blocks.{layer}.hook_mlp_out"]
    return names


def sources(hm: HookedModel, ps: PairSet, mode: str) -> Sources:
    """What replaces a component outside the circuit.

    ``patch``: its activation on the pair's corrupted prompt; ``mean``: its mean over the
    clean prompts' real positions (a vector per hook, all positions alike); ``zero``: 0;
    ``resample``: its activation on *another* pair's clean prompt of the same token length
    (the next one in order; a pair alone with its length keeps its own).
    """
    if mode not in MODES:
        raise UsageError(f"unknown ablation {mode!r}; choose one of {', '.join(MODES)}")
    names = _hooks(hm)
    if mode == "patch":
        _, cache = hm.run(ps.corrupt, cache=names)
        return Sources(mode, cache, per_pair=True)
    if mode == "resample":
        _, cache = hm.run(ps.clean, cache=names)
        donor = resample_donors(ps.length)
        return Sources(mode, {k: v[donor] for k, v in cache.items()}, per_pair=True)
    _, cache = hm.run(ps.clean, cache=names)
    real = torch.arange(ps.clean.shape[1])[None, :] < ps.length[:, None]  # [P, T]
    out = {}
    for name, act in cache.items():
        flat = act[real]  # [n_real, ...]
        mean = flat.mean(0) if mode == "mean" else torch.zeros_like(flat[0])
        out[name] = mean[None, None]
    return Sources(mode, out, per_pair=False)


def resample_donors(length: torch.Tensor) -> torch.Tensor:
    """For each pair, the next pair of the same length (cyclically within that length).

    >>> resample_donors(torch.tensor([5, 7, 5, 5, 9])).tolist()
    [2, 1, 3, 0, 4]
    """
    donor = torch.arange(len(length))
    for value in length.unique():
        idx = (length == value).nonzero()[:, 0]
        donor[idx] = idx.roll(-1)
    return donor


def edits_for(
    hm: HookedModel,
    src: Sources,
    keep: torch.Tensor,
    pair_of_row: torch.Tensor,
    length: torch.Tensor | None = None,
) -> dict[str, Edit]:
    """Edits replacing, in row ``j``, every component where ``keep[j]`` is False.

    ``keep`` is ``[rows, n_components]`` or, per position, ``[rows, n_components, T]``
    (then ``length[j]``, the row's prompt length, places position ``k`` at token
    ``length[j] - 1 - k``).
    """
    edits: dict[str, Edit] = {}
    col = {c: i for i, c in enumerate(hm.components)}
    by_hook: dict[str, list[int]] = {}
    for c in hm.components:
        by_hook.setdefault(c.hook, []).append(col[c])
    if keep.dim() == 3:
        if length is None:
            raise UsageError("position-resolved variants need each row's prompt length")
        replaced_at = _replaced_by_token(keep, length)  # [rows, T, n_components]
    for hook, cols in by_hook.items():
        replaced = ~keep[:, cols] if keep.dim() == 2 else replaced_at[:, :, cols]
        if not bool(replaced.any()):
            continue
        value = src.values[hook]
        value = value[pair_of_row] if src.per_pair else value
        mask = replaced if hook.endswith("hook_z") else replaced[..., 0]
        edits[hook] = patch(value, mask)
    return edits


def _replaced_by_token(keep: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """``[rows, T, n]``: True where the component is replaced at that token of the row."""
    t_len = keep.shape[2]
    back = length[:, None] - 1 - torch.arange(t_len)[None, :]  # [rows, T]: k of each token
    real = back >= 0  # tokens after the decision token are padding: never replaced
    k = back.clamp(0, t_len - 1)
    kept = keep.gather(2, k[:, None, :].expand(-1, keep.shape[1], -1))  # [rows, n, T]
    return (~kept & real[:, None, :]).transpose(1, 2)


def last_only(last: torch.Tensor) -> Edit:
    """An edit of the final norm's output keeping only each row's decision position.

    The classifier then runs on one position per row (``logits`` are ``[B, 1, vocab]``),
    which is what every metric here reads.  The values there are those of the full
    classifier up to float rounding (a smaller matmul); the faithfulness of every
    circuit, full and empty included, is computed this same way.
    """
    return lambda act: act[torch.arange(act.shape[0]), last][:, None]


def first_layers(hm: HookedModel, keep: torch.Tensor) -> torch.Tensor:
    """Per variant, the first layer with a replaced component (embed: 0; none: n_layers).

    A position-resolved variant counts a component as replaced if it is at any position.
    """
    n_layers = hm.points.n_layers
    if keep.dim() == 3:
        keep = keep.all(-1)
    layer_of = torch.tensor([max(c.layer, 0) for c in hm.components])
    big = torch.full_like(layer_of, n_layers)
    return torch.where(~keep, layer_of[None, :], big[None, :]).amin(1)


def run_variants(
    hm: HookedModel,
    ps: PairSet,
    src: Sources,
    keep: torch.Tensor,
    rows_per_forward: int = ROWS_PER_FORWARD,
) -> torch.Tensor:
    """Logit difference ``[V, P]`` of each variant ``keep[v]`` on each pair.

    ``keep`` is ``[V, n_components]`` or, position-resolved, ``[V, n_components, T]``
    (see the module docstring).

    Where the backend allows it, a variant whose first replaced component is in layer
    ``L`` starts from the clean run's ``hook_resid_pre`` of layer ``L`` (the layers
    before are unchanged), which halves the work of patching one node at a time.
    """
    v_count, p_count = keep.shape[0], ps.n_valid
    if keep.dim() == 3 and keep.shape[2] != ps.clean.shape[1]:
        raise UsageError(f"position-resolved variants need {ps.clean.shape[1]} positions, "
                         f"not {keep.shape[2]}")  # fmt: skip
    out = torch.empty(v_count, p_count)
    n_layers = hm.points.n_layers
    first = first_layers(hm, keep)
    resid: dict[str, torch.Tensor] = {}
    if hm.points.run_from is not None and bool((first < n_layers).any()):
        names = ["hook_embed"] + [f"blocks.{i}.hook_resid_pre" for i in range(n_layers)]
        _, resid = hm.run(ps.clean, cache=names)
    step = max(1, rows_per_forward * 32 // max(32, ps.clean.shape[1]))
    for layer in first.unique().tolist():
        variants = (first == layer).nonzero()[:, 0]
        rows_variant = variants.repeat_interleave(p_count)
        rows_pair = torch.arange(p_count).repeat(len(variants))
        for start in range(0, len(rows_pair), step):
            rv, rp = rows_variant[start : start + step], rows_pair[start : start + step]
            row_keep = keep[rv]
            edits = {} if layer == n_layers else edits_for(hm, src, row_keep, rp, ps.length[rp])
            edits["ln_final.hook_normalized"] = last_only(ps.length[rp] - 1)
            if layer == n_layers or not resid:
                logits, _ = hm.run(ps.clean[rp], edits=edits)
            else:
                x = resid[f"blocks.{layer}.hook_resid_pre"][rp]
                if layer == 0 and "hook_embed" in edits:
                    x = edits.pop("hook_embed")(resid["hook_embed"][rp])
                logits, _ = hm.run_from(layer, x, edits=edits)
            out[rv, rp] = logit_diff(logits, ps, rp, positions=torch.zeros_like(rp))
    return out


def position_effects(hm: HookedModel, ps: PairSet, src: Sources, last: int = 8) -> torch.Tensor:
    """``[n_components, last]``: the effect of replacing one component at one position.

    Entry ``[c, k]`` is ``m(clean) - m(clean with component c replaced at the token k
    places before the decision token)``, the mean decision-point logit difference over
    the pairs (pairs shorter than ``k + 1`` tokens contribute 0, their token does not
    exist).  All ``n_components * last`` variants run batched.
    """
    n, t_len = len(hm.components), ps.clean.shape[1]
    last = min(last, t_len)
    keep = torch.ones(1 + n * last, n, t_len, dtype=torch.bool)
    for c in range(n):
        for k in range(last):
            keep[1 + c * last + k, c, k] = False
    m = run_variants(hm, ps, src, keep).mean(1)
    return (m[0] - m[1:]).view(n, last)
