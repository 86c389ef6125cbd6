"""The TorchScript trace scoring runs: bit for bit the eager module, or not used at all.

stories260K's 8-wide heads run on the compiled attention kernel inside the trace
(:mod:`capgym.models.kernels`); its trace is bit for bit the eager module with that
kernel on, and within float32 rounding of torch's attention."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from capgym.models import load_model
from capgym.models.llama import Llama, LlamaConfig, kernel_attention
from capgym.models.traced import trace_forward, weights_key
from capgym.score import ScoreSettings, score
from capgym.score.precision import Precision
from capgym.store import open_run

CFG = LlamaConfig(dim=16, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=32,
                  hidden_dim=24, max_seq_len=64)  # fmt: skip


def _random_shapes(n: int, max_len: int, seed: int = 0) -> list[tuple[int, int]]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(1, 1), (1, max_len), (4, max_len)]
    shapes += [(int(torch.randint(1, 5, (), generator=g)), int(torch.randint(1, max_len + 1, (), generator=g))) for _ in range(n)]  # fmt: skip
    return shapes


@pytest.mark.parametrize("name", ["stories260K", "bitllama-3M"])
def test_trace_gives_the_eager_logits_bit_for_bit_on_any_shape(assets, name: str) -> None:
    lm = load_model(name)
    fast = lm.traced_forward()
    assert fast is not None
    g = torch.Generator().manual_seed(1)
    for b, t in _random_shapes(8, lm.context_len):
        ids = torch.randint(0, lm.vocab_size, (b, t), generator=g)
        with kernel_attention(lm.module):  # the kernel where it is usable (stories260K)
            eager = lm.forward(ids)
        assert torch.equal(fast(ids), eager), (b, t)
        torch.testing.assert_close(fast(ids), lm.forward(ids), atol=1e-4, rtol=0)


def test_trace_is_rebuilt_when_weights_change_and_skipped_with_hooks(assets) -> None:
    lm = load_model("bitllama-3M")  # its trace holds int8 copies of the ternary codes
    ids = torch.tensor([lm.encode("Once upon a time, there was a cat.").ids])
    first = lm.traced_forward()
    assert first is not None and lm.traced_forward() is first  # kept while weights stay
    key = weights_key(lm.module)
    with torch.no_grad():
        lm.module.layers[0].feed_forward.w2.codes.neg_()  # an in-place edit
    assert weights_key(lm.module) != key
    second = lm.traced_forward()
    assert second is not None and second is not first
    assert torch.equal(second(ids), lm.forward(ids))
    assert not torch.equal(first(ids), second(ids))  # the old trace kept the old codes
    handle = lm.module.layers[1].register_forward_hook(lambda *a: None)
    try:
        assert lm.traced_forward() is None  # a trace would not run the hook
    finally:
        handle.remove()


def test_a_failed_or_unequal_trace_means_eager(monkeypatch) -> None:
    module = Llama(CFG).eval()
    assert trace_forward(module) is not None

    def broken(*args, **kwargs):
        raise RuntimeError("no TorchScript here")

    monkeypatch.setattr(torch.jit, "trace", broken)
    assert trace_forward(module) is None
    monkeypatch.undo()

    class Drifting(torch.nn.Module):  # its output depends on Python state a trace freezes
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))
            self.calls = 0

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            return ids.float() * self.w * self.calls

    assert trace_forward(Drifting(), vocab_size=8) is None


def test_precision_runs_the_trace_unless_turned_off(assets, monkeypatch) -> None:
    lm = load_model("stories260K")
    built = []
    original = type(lm).traced_forward

    def spy(self):
        built.append(1)
        return original(self)

    monkeypatch.setattr(type(lm), "traced_forward", spy)
    ids = torch.tensor([lm.encode("Tom had a red ball.").ids])
    p = Precision("float32")
    with torch.inference_mode():
        a, b = p.forward(lm, ids), p.forward(lm, ids)
    with kernel_attention(lm.module):
        assert len(built) == 1 and torch.equal(a, lm.forward(ids)) and torch.equal(a, b)
    monkeypatch.setenv("CAPGYM_TRACE", "0")
    with torch.inference_mode():  # eager: torch's attention, within float32 rounding
        off = Precision("float32").forward(lm, ids)
    assert torch.equal(off, lm.forward(ids))
    torch.testing.assert_close(off, a, atol=1e-4, rtol=0)
    assert len(built) == 1  # turned off: not even built
    monkeypatch.delenv("CAPGYM_TRACE")
    with torch.inference_mode():
        Precision("bfloat16").forward(lm, ids)
    assert len(built) == 1  # reduced precision runs the module (autocast) eagerly


@pytest.mark.parametrize("workers", ["1", "2"])
def test_scored_rows_are_the_same_traced_or_eager(assets, tmp_path, monkeypatch, workers) -> None:
    from capgym.corpus import load_corpus

    lm = load_model("bitllama-3M")
    corpus = load_corpus("tinystories-validation-0-999").head(12)
    settings = ScoreSettings(chunk_stories=5)
    monkeypatch.setenv("CAPGYM_THREADS", workers)
    frames = []
    for trace in ("1", "0"):
        monkeypatch.setenv("CAPGYM_TRACE", trace)
        score(lm, corpus, tmp_path / trace, settings, progress=False)
        frames.append(open_run(tmp_path / trace).sql("SELECT * FROM scores ORDER BY story, pos"))
    assert len(frames[0]) > 1000
    pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=True)


def test_a_global_forward_hook_also_means_eager(assets) -> None:
    from torch.nn.modules.module import register_module_forward_hook

    lm = load_model("stories260K")
    assert lm.traced_forward() is not None
    handle = register_module_forward_hook(lambda *a: None)
    try:
        assert lm.traced_forward() is None  # a trace would not run it either
    finally:
        handle.remove()
    assert lm.traced_forward() is not None


def test_ctrl_c_inside_a_python_backed_operator_stays_a_keyboard_interrupt() -> None:
    state = {"interrupt": False}

    @torch.library.custom_op("capgym_test::maybe_interrupt", mutates_args=())
    def maybe_interrupt(x: torch.Tensor) -> torch.Tensor:
        if state["interrupt"]:
            raise KeyboardInterrupt  # what Python's SIGINT handler raises mid-operator
        return x.clone()

    class WithOp(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return maybe_interrupt(ids.float() * self.w)

    fast = trace_forward(WithOp(), vocab_size=8)
    assert fast is not None
    state["interrupt"] = True
    with pytest.raises(KeyboardInterrupt):  # not TorchScript's RuntimeError wrapping it
        fast(torch.ones(1, 3, dtype=torch.long))
