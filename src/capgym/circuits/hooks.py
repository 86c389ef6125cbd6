"""Run any capgym model with a cache of its internals and with interventions.

Hook names follow TransformerLens (``hook_embed``, ``blocks.{l}.hook_resid_pre``,
``blocks.{l}.attn.hook_z`` as ``[batch, pos, head, d_head]``,
``blocks.{l}.attn.hook_pattern`` as ``[batch, head, query, key]``,
``blocks.{l}.hook_resid_mid``, ``blocks.{l}.hook_mlp_out``,
``blocks.{l}.hook_resid_post``, ``ln_final.hook_normalized``, ``logits``; on llama2.c
and bitllama also ``blocks.{l}.hook_q_input`` / ``hook_k_input`` / ``hook_v_input`` as
``[batch, pos, head, d_model]``, the residual copy each head reads, see
:mod:`capgym.circuits.edges`).  They are
plain torch module hooks on the modules of :mod:`capgym.circuits.adapters`, so a run
without interventions computes exactly what the model's own forward computes (tested
bit for bit).

An *edit* is a function ``activation -> replacement`` at one hook; :func:`patch`
builds the common one (replace some heads or rows by another value), so patching,
mean-, zero- and resample-ablation are all edits with different values.

>>> from capgym.models import load_model
>>> hm = HookedModel(load_model("stories260K"))
>>> ids = torch.tensor([[1, 403, 407, 261]])
>>> logits, cache = hm.run_with_cache(ids)
>>> cache["blocks.0.attn.hook_z"].shape, cache["blocks.4.attn.hook_pattern"].shape
(torch.Size([1, 4, 8, 8]), torch.Size([1, 8, 4, 4]))
>>> bool((logits == hm.lm.forward(ids)).all())
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from capgym.circuits.adapters import Points, points, straight_through
from capgym.errors import UsageError
from capgym.models.base import LanguageModel

Edit = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Component:
    """A node of the component graph: the embedding, one attention head, or one MLP.

    >>> Component("head", 2, 5).name, Component("head", 2, 5).hook
    ('L2H5', 'blocks.2.attn.hook_z')
    """

    kind: str  # "embed", "head" or "mlp"
    layer: int = -1
    head: int = -1

    @property
    def name(self) -> str:
        if self.kind == "head":
            return f"L{self.layer}H{self.head}"
        return "embed" if self.kind == "embed" else f"MLP{self.layer}"

    @property
    def hook(self) -> str:
        """The TransformerLens hook whose value this component writes."""
        if self.kind == "head":
            return f"blocks.{self.layer}.attn.hook_z"
        return "hook_embed" if self.kind == "embed" else f"blocks.{self.layer}.hook_mlp_out"

    @staticmethod
    def parse(name: str) -> Component:
        """A component from its short or TransformerLens name; bad names -> UsageError.

        Short: ``"L2H5"``, ``"MLP3"``, ``"embed"``; TransformerLens:
        ``"blocks.2.attn.hook_z.5"`` (head 5 of layer 2), ``"blocks.3.hook_mlp_out"``,
        ``"hook_embed"``.

        >>> Component.parse("blocks.2.attn.hook_z.5") == Component.parse("L2H5")
        True
        """
        import re

        if name in ("embed", "hook_embed"):
            return Component("embed")
        if m := re.fullmatch(r"L(\d+)H(\d+)|blocks\.(\d+)\.attn\.hook_z\.(\d+)", name):
            layer, head = (m[1], m[2]) if m[1] is not None else (m[3], m[4])
            return Component("head", int(layer), int(head))
        if m := re.fullmatch(r"MLP(\d+)|blocks\.(\d+)\.hook_mlp_out", name):
            return Component("mlp", int(m[1] if m[1] is not None else m[2]))
        raise UsageError(f"unknown component {name!r}; write L<layer>H<head>, MLP<layer> or "
                         "embed (or blocks.<l>.attn.hook_z.<h>, blocks.<l>.hook_mlp_out, "
                         "hook_embed), optionally with @<k> for k tokens before the "
                         "decision token")  # fmt: skip


@dataclass(frozen=True)
class Node:
    """A circuit item: a component at every position, or at one position.

    ``position = k`` means the token ``k`` places before the decision token (``0`` is
    the decision token itself, the last token of the prompt); ``None`` means every
    position.  Positions count back from the decision token because the prompts of
    different pairs have different lengths; in a pair whose prompt has ``n`` tokens only
    ``k < n`` exist, so a node ``@k`` with ``k >= n`` names no token of that pair and
    changes nothing there.  Written ``"L4H3@0"`` or ``"blocks.4.attn.hook_z.3@0"``.

    >>> Node.parse("L4H3@2").name, Node.parse("MLP1").position
    ('L4H3@2', None)
    """

    component: Component
    position: int | None = None

    @property
    def name(self) -> str:
        at = "" if self.position is None else f"@{self.position}"
        return self.component.name + at

    @staticmethod
    def parse(name: str) -> Node:
        """``"<component>"`` or ``"<component>@<k>"`` (k >= 0); bad names -> UsageError."""
        comp, at, pos = name.partition("@")
        if not at:
            return Node(Component.parse(name))
        if not pos.isdigit():
            raise UsageError(f"bad position in {name!r}; write <component>@<k> with k >= 0 "
                             "tokens before the decision token (@0 = the decision token)")  # fmt: skip
        return Node(Component.parse(comp), int(pos))


def graph_components(pts: Points) -> list[Component]:
    """Every node in forward order: embed, then each layer's heads and its MLP."""
    out = [Component("embed")]
    for layer in range(pts.n_layers):
        out += [Component("head", layer, h) for h in range(pts.n_heads)]
        out.append(Component("mlp", layer))
    return out


def patch(value: torch.Tensor, mask: torch.Tensor) -> Edit:
    """Replace an activation where ``mask`` is true by ``value`` (broadcast to its shape).

    For ``hook_z`` ``mask`` is ``[batch, head]`` (every position) or ``[batch, pos,
    head]``; for other hooks ``[batch]`` or ``[batch, pos]``.
    """

    def edit(act: torch.Tensor) -> torch.Tensor:
        if act.dim() == 4:  # hook_z [B, T, H, D]
            m = mask[:, None, :, None] if mask.dim() == 2 else mask[..., None]
        elif mask.dim() == 2:  # [B, T] on [B, T, D]
            m = mask[..., None]
        else:
            m = mask.view(-1, *([1] * (act.dim() - 1)))
        return torch.where(m, value.to(act.dtype), act)

    return edit


def compose(first: Edit, second: Edit) -> Edit:
    return lambda act: second(first(act))


class HookedModel:
    """A capgym model with hook points, caching and interventions (see module doc)."""

    def __init__(self, lm: LanguageModel) -> None:
        self.lm = lm
        self.points = points(lm)
        self.components = graph_components(self.points)

    @property
    def hook_names(self) -> list[str]:
        names = ["hook_embed"]
        for layer in range(self.points.n_layers):
            b = f"blocks.{layer}"
            names += [f"{b}.hook_resid_pre", f"{b}.attn.hook_z", f"{b}.attn.hook_pattern",
                      f"{b}.hook_resid_mid", f"{b}.hook_mlp_out", f"{b}.hook_resid_post"]  # fmt: skip
        if self.points.split_attention is not None:
            names += [f"blocks.{layer}.hook_{s}_input"
                      for layer in range(self.points.n_layers) for s in "qkv"]  # fmt: skip
        return [*names, "hook_resid_final", "ln_final.hook_normalized"]

    def run(
        self,
        ids: torch.Tensor,
        *,
        edits: dict[str, Edit] | None = None,
        cache: Iterable[str] = (),
        grad: bool = False,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits ``[B, T, vocab]`` of ``ids`` with ``edits`` applied, and the cached hooks.

        With ``grad=True`` the forward is differentiable and the cached tensors are part
        of its graph (bitllama's quantisers pass gradients straight through).
        """
        return self._run(lambda: self.points.forward(ids), edits, cache, grad)

    def run_from(
        self,
        layer: int,
        resid: torch.Tensor,
        *,
        edits: dict[str, Edit] | None = None,
        cache: Iterable[str] = (),
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Like :meth:`run`, starting at layer ``layer`` from its ``hook_resid_pre`` value.

        Hooks of earlier layers do not fire.  Only where ``points.run_from`` exists.
        """
        run_from = self.points.run_from
        if run_from is None:
            raise UsageError(f"{self.points.backend} models cannot start at a layer")
        return self._run(lambda: run_from(layer, resid), edits, cache, False)

    def _run(
        self,
        call: Callable[[], torch.Tensor],
        edits: dict[str, Edit] | None,
        cache: Iterable[str],
        grad: bool,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        edits = dict(edits or {})
        wanted = set(cache)
        unknown = (wanted | set(edits)) - set(self.hook_names)
        if unknown:
            raise UsageError(f"unknown hook {min(unknown)!r}; see HookedModel.hook_names")
        store: dict[str, torch.Tensor] = {}
        mode = torch.enable_grad() if grad else torch.no_grad()
        with mode, self._hooks(edits, wanted, store, grad):
            logits = call()
        return logits, store

    def run_with_cache(
        self, ids: torch.Tensor, names: Iterable[str] | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Plain forward, caching ``names`` (default: every hook but the per-head inputs).

        The per-head ``hook_q_input``/``hook_k_input``/``hook_v_input`` are left out of the
        default because caching them recomputes each attention layer head by head.
        """
        if names is None:
            names = [
                n for n in self.hook_names if not n.endswith(("q_input", "k_input", "v_input"))
            ]
        return self.run(ids, cache=names)

    @contextlib.contextmanager
    def _hooks(
        self, edits: dict[str, Edit], wanted: set[str], store: dict[str, torch.Tensor], grad: bool
    ) -> Iterator[None]:
        pts = self.points
        handles: list[Any] = []

        def point(name: str, reshape: Callable[[torch.Tensor], torch.Tensor] | None = None,
                  back: Callable[[torch.Tensor], torch.Tensor] | None = None
                  ) -> Callable[[torch.Tensor], torch.Tensor | None]:  # fmt: skip
            def apply(act: torch.Tensor) -> torch.Tensor | None:
                view = reshape(act) if reshape else act
                edited = name in edits
                if edited:
                    view = edits[name](view)
                if name in wanted:
                    store[name] = view
                if not edited and not (grad and reshape and name in wanted):
                    return None  # leave the module's tensor untouched: bit-exact
                return back(view) if back else view

            return apply

        def pre(module: nn.Module, fn: Callable[[torch.Tensor], torch.Tensor | None]) -> None:
            def hook(_m: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
                out = fn(args[0])
                return None if out is None else (out, *args[1:])

            handles.append(module.register_forward_pre_hook(hook))

        def post(module: nn.Module, fn: Callable[[torch.Tensor], torch.Tensor | None]) -> None:
            def hook(_m: nn.Module, _args: Any, output: Any) -> Any:
                tensor = output[0] if isinstance(output, tuple) else output
                out = fn(tensor)
                if out is None:
                    return None
                return (out, *output[1:]) if isinstance(output, tuple) else out

            handles.append(module.register_forward_hook(hook))

        def needed(name: str) -> bool:
            return name in edits or name in wanted

        try:
            if needed("hook_embed"):
                post(pts.embed, point("hook_embed"))
            h, d = pts.n_heads, pts.head_dim
            for layer in range(pts.n_layers):
                b = f"blocks.{layer}"
                if needed(f"{b}.hook_resid_pre"):
                    pre(pts.attn_in[layer], point(f"{b}.hook_resid_pre"))
                if needed(f"{b}.attn.hook_z"):
                    pre(pts.z[layer], point(f"{b}.attn.hook_z",
                                            lambda z: z.unflatten(-1, (h, d)),
                                            lambda z: z.flatten(-2)))  # fmt: skip
                if needed(f"{b}.hook_resid_mid"):
                    pre(pts.mlp_in[layer], point(f"{b}.hook_resid_mid"))
                if needed(f"{b}.hook_mlp_out"):
                    post(pts.mlp[layer], point(f"{b}.hook_mlp_out"))
                if needed(f"{b}.hook_resid_post"):
                    post(pts.blocks[layer], point(f"{b}.hook_resid_post"))
                if any(needed(f"{b}.hook_{s}_input") for s in "qkv"):
                    handles += self._split_hooks(layer, edits, wanted, store)
                if f"{b}.attn.hook_pattern" in wanted:
                    handles.append(pts.attention[layer].register_forward_hook(
                        self._pattern_hook(layer, f"{b}.attn.hook_pattern", store)))  # fmt: skip
            if needed("hook_resid_final"):
                pre(pts.final_norm, point("hook_resid_final"))
            if needed("ln_final.hook_normalized"):
                post(pts.final_norm, point("ln_final.hook_normalized"))
            if grad and pts.backend == "bitllama":
                handles += _straight_through(pts)
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _split_hooks(
        self, layer: int, edits: dict[str, Edit], wanted: set[str], store: dict[str, torch.Tensor]
    ) -> list[Any]:
        """Hooks giving layer ``layer``'s heads their own q/k/v inputs (``hook_q_input``...).

        Each input is the residual stream ``[B, T, H, d_model]`` (one copy per head) after
        its edit; the attention output is computed from them (``points.split_attention``)
        by a forward that stands in for the attention module's own while the hooks are on,
        so the layer's attention runs once, not once shared and once per head.  Registered
        after the ``hook_resid_pre`` edit, so the copies start from the edited residual.
        A cached ``hook_pattern`` is still computed from the shared residual, not the copies.
        """
        pts = self.points
        split = pts.split_attention
        assert split is not None
        seen: dict[str, torch.Tensor] = {}

        def grab(_m: nn.Module, args: tuple[Any, ...]) -> None:
            seen["x"] = args[0]  # the residual before the norm: each copy is normed itself

        def per_head_forward(*_args: Any, **_kwargs: Any) -> torch.Tensor:
            x = seen.pop("x")
            inputs = []
            for s in "qkv":
                name = f"blocks.{layer}.hook_{s}_input"
                act = x[:, :, None].expand(-1, -1, pts.n_heads, -1)
                if name in edits:
                    act = edits[name](act)
                if name in wanted:
                    store[name] = act
                inputs.append(act)
            z = split(layer, *inputs)
            return pts.z[layer](z.flatten(-2))

        return [pts.attn_in[layer].register_forward_pre_hook(grab),
                _ForwardSwap(pts.attention[layer], per_head_forward)]  # fmt: skip

    def _pattern_hook(self, layer: int, name: str, store: dict[str, torch.Tensor]) -> Any:
        def hook(_m: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            with torch.no_grad():
                store[name] = self.points.pattern(layer, args, output).detach().float()

        return hook


class _ForwardSwap:
    """Replaces ``module``'s forward by ``forward`` until :meth:`remove` (a hook handle's
    interface).  The module is still called through ``nn.Module.__call__``, so its hooks
    (the cached ``hook_pattern``, those of its submodules) fire as in a plain run."""

    def __init__(self, module: nn.Module, forward: Callable[..., Any]) -> None:
        self.module = module
        self.previous = module.__dict__.get("forward")  # an instance forward to restore
        module.forward = forward  # type: ignore[method-assign]

    def remove(self) -> None:
        if self.previous is None:
            self.module.__dict__.pop("forward", None)
        else:
            self.module.forward = self.previous  # type: ignore[method-assign]


def _straight_through(pts: Points) -> list[Any]:
    """Forward hooks giving every BitLinear a straight-through gradient.

    The value is the exact quantised output (:func:`~capgym.circuits.adapters.straight_through`).
    """
    from capgym.models.bitllama import BitLinear

    def hook(module: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
        x = args[0]
        if not isinstance(x, torch.Tensor) or not x.requires_grad:
            return output
        return straight_through(output, x, module.codes, module.scale)

    root = pts.blocks
    return [m.register_forward_hook(hook) for b in root for m in b.modules()
            if isinstance(m, BitLinear)]  # fmt: skip
