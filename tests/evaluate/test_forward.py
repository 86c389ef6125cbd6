"""Evaluation numbers against an independent full log-softmax over prompt + answer."""

from __future__ import annotations

import math

import pytest
import torch

from capgym.evaluate import EvalSettings, evaluate_task, score_built
from capgym.tasks import Example, Task, make

from ..tasks.toy import BigramLM

EXAMPLES = [
    Example("a", "I saw", " Sue", (" Tom", " a cat")),
    Example("b", "We went to the", " park", (" big zoo",)),
    Example("c", "Hello there, my friend", ". Bye", ("!", "? No")),
    Example("d", "One", " two three four", ()),
    Example("e", "We saw a", " red hat", (" red cat", " big hat")),  # shared prefix " red "
]


def reference(model, prompt: str, cont: str) -> tuple[float, float, int, int]:  # type: ignore[no-untyped-def]
    """(sum of log-probs, first-token log-prob, first-token rank, tokens) by brute force.

    The first token is the first one that is not whitespace only (with the whitespace
    tokens before it), as documented in :mod:`capgym.evaluate.forward`.
    """
    p = model.encode(prompt).ids
    enc = model.encode(prompt + cont)
    ids = enc.ids
    assert ids[: len(p)] == p
    pieces = [(prompt + cont)[s:e] for s, e in enc.spans[len(p) :]]
    d = next((i for i, x in enumerate(pieces) if x.strip()), 0)
    logits = model.forward(torch.tensor([ids]))[0]
    lsm = torch.log_softmax(logits.double(), dim=-1)
    lps = [float(lsm[t - 1, ids[t]]) for t in range(len(p), len(ids))]
    at = logits[len(p) - 1 + d]
    rank = int((at > at[ids[len(p) + d]]).sum())
    return sum(lps), sum(lps[: d + 1]), rank, len(lps)


@pytest.mark.parametrize("batch_tokens", [1, 16, 100_000])
def test_matches_reference_for_any_batching(batch_tokens: int) -> None:
    lm = BigramLM(seed=3)
    task = Task("demo", "demo", EXAMPLES)
    res = evaluate_task(lm, task, EvalSettings(batch_tokens=batch_tokens, n_boot=50)).results
    for ex, row in zip(EXAMPLES, res.itertuples()):
        lp, first, rank, _ = reference(lm, ex.prompt, ex.answer)
        assert row.example_id == ex.id
        assert row.logprob == pytest.approx(lp, abs=1e-4)
        assert row.first_logprob == pytest.approx(first, abs=1e-4)
        assert row.prob == pytest.approx(math.exp(lp), rel=1e-4)
        assert row.rank == rank
        assert row.n_answer_tokens == len(lm.encode(ex.prompt + ex.answer).ids) - len(
            lm.encode(ex.prompt).ids
        )
        if ex.wrong:
            wrongs = [reference(lm, ex.prompt, w) for w in ex.wrong]
            assert row.seq_logprob_diff == pytest.approx(lp - max(w[0] for w in wrongs), abs=1e-4)
            assert row.first_logprob_diff == pytest.approx(
                first - max(w[1] for w in wrongs), abs=1e-4
            )
            n_a = row.n_answer_tokens
            per = max(w[0] / w[3] for w in wrongs)
            assert row.seq_logprob_diff_per_token == pytest.approx(lp / n_a - per, abs=1e-4)
            ld, single = decision_reference(lm, ex.prompt, ex.answer, ex.wrong)
            assert row.logit_diff_at_decision == pytest.approx(ld, abs=1e-4)
            assert row.beats_wrong == float(ld > 0)
            assert row.single_token_contrast == float(single)
            assert row.n_wrong == len(ex.wrong)
        else:
            assert math.isnan(row.seq_logprob_diff) and math.isnan(row.first_logprob_diff)
            assert math.isnan(row.beats_wrong) and math.isnan(row.logit_diff_at_decision)


def decision_reference(model, prompt: str, answer: str, wrong: tuple[str, ...]):  # type: ignore[no-untyped-def]
    """(min over wrong answers of the logit difference at the first differing token,
    whether every contrast is one token each), from one unbatched forward pass per
    wrong answer over prompt + wrong answer (not over the answer's row)."""
    p = len(model.encode(prompt).ids)
    a = model.encode(prompt + answer).ids[p:]
    diffs, single = [], True
    for w in wrong:
        ids = model.encode(prompt + w).ids
        wi = ids[p:]
        k = next(i for i, (x, y) in enumerate(zip(a, wi)) if x != y)
        logits = model.forward(torch.tensor([ids]))[0, p - 1 + k].double()
        diffs.append(float(logits[a[k]] - logits[wi[k]]))
        single = single and len(a) == len(wi) == k + 1
    return min(diffs), single


def test_first_token_logit_difference_is_a_logit_difference() -> None:
    lm = BigramLM(seed=1)
    ex = Example("a", "I saw", " Sue", (" Tom",))
    (built,), _, _ = Task("t", "t", [ex]).build(lm)
    (s,) = score_built(lm, [built])
    logits = lm.forward(torch.tensor([built.prompt_ids]))[0, -1]
    expected = float(logits[built.answer_ids[0]] - logits[built.wrong_ids[0][0]])
    assert s.first_logprob_diff == pytest.approx(expected, abs=1e-5)
    assert s.logit_diff_at_decision == pytest.approx(expected, abs=1e-5)


def test_contrast_without_a_decision_token_is_nan() -> None:
    lm = BigramLM(seed=2)
    ex = Example("p", "I saw", " Tom", (" Tommy", " Sue"))  # " Tom" is a prefix of " Tommy"
    res = evaluate_task(lm, Task("t", "t", [ex]), EvalSettings(n_boot=10))
    row = res.results.iloc[0]
    assert math.isnan(row.beats_wrong) and math.isnan(row.logit_diff_at_decision)
    assert not math.isnan(row.seq_logprob_diff)
    assert res.summary.n_no_decision[0] == 1


def test_hand_computed_uniform_model() -> None:
    class Uniform(BigramLM):
        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return torch.zeros(*ids.shape, self.vocab_size)

    lm = Uniform()
    res = evaluate_task(lm, Task("u", "u", [EXAMPLES[1]]), EvalSettings(n_boot=10)).results
    n = res.n_answer_tokens[0]
    assert res.logprob[0] == pytest.approx(-n * math.log(lm.vocab_size))
    assert res["rank"][0] == 0  # ties go in the answer's favour
    assert res.seq_logprob_diff[0] == pytest.approx((len(" big zoo") - n) * math.log(lm.vocab_size))
    assert res.logit_diff_at_decision[0] == 0.0 and res.beats_wrong[0] == 0.0  # a tie loses


def test_real_model_matches_reference(assets) -> None:  # type: ignore[no-untyped-def]
    from capgym.models import load_model

    lm = load_model("stories260K")
    task = make("repeated-name", n=6, seed=2, perturb=False)
    res = evaluate_task(lm, task, EvalSettings(n_boot=10)).results.set_index("example_id")
    for ex in task.examples:
        lp, _first, rank, _ = reference(lm, ex.prompt, ex.answer)
        row = res.loc[ex.id]
        assert row.logprob == pytest.approx(lp, abs=1e-3) and row["rank"] == rank
        wrong = reference(lm, ex.prompt, ex.wrong[0])[0]
        assert row.seq_logprob_diff == pytest.approx(lp - wrong, abs=1e-3)
        ld, single = decision_reference(lm, ex.prompt, ex.answer, ex.wrong)
        assert row.logit_diff_at_decision == pytest.approx(ld, abs=1e-3)
        assert row.beats_wrong == float(ld > 0) and row.single_token_contrast == float(single)


def test_thread_setting_is_scoped() -> None:
    from capgym.evaluate.task_eval import cpu_threads

    before = torch.get_num_threads()
    evaluate_task(BigramLM(), Task("t", "t", EXAMPLES[:1]), EvalSettings(threads=1, n_boot=10))
    assert torch.get_num_threads() == before
    assert cpu_threads(BigramLM(), EvalSettings(threads=0)) is None


def test_auto_threads_follow_capgym_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from capgym.evaluate.task_eval import cpu_threads
    from capgym.models.threads import physical_cores

    monkeypatch.delenv("CAPGYM_THREADS", raising=False)
    assert cpu_threads(BigramLM(), EvalSettings()) == physical_cores()
    monkeypatch.setenv("CAPGYM_THREADS", "1")
    assert cpu_threads(BigramLM(), EvalSettings()) == 1
    assert cpu_threads(BigramLM(), EvalSettings(threads=3)) == 3


STORY = "Once upon a time there was a girl named Lily. Lily liked her red ball. She said hi."
NESTED = [  # examples mined from one story: every prompt is the story so far
    Example(f"m{i}", STORY[:cut], STORY[cut:end], wrong)
    for i, (cut, end, wrong) in enumerate([
        (4, 9, (" down",)), (9, 11, ()), (16, 22, (" when", " but then")),
        (16, 22, (" when",)), (39, 44, (" Sue",)), (45, 50, (" Sue", " Mom")),
        (60, 64, (" blue",)), (70, 74, (" He",)), (79, 82, (" bye",)),
    ])
]  # fmt: skip


@pytest.mark.parametrize("name", ["bigram", "stories260K"])
def test_prefix_sharing_matches_each_example_alone(name: str, assets: object) -> None:
    from capgym.evaluate.forward import _sequences, share_prefixes
    from capgym.models import load_model

    lm = BigramLM(seed=5) if name == "bigram" else load_model("stories260K")
    seen: list[int] = []
    forward = lm.forward

    def counting(ids: torch.Tensor) -> torch.Tensor:
        seen.append(ids.shape[0])
        return forward(ids)

    lm.forward = counting  # type: ignore[method-assign]
    task = Task("nested", "nested", NESTED)
    built, _, _ = task.build(lm)
    groups = share_prefixes(_sequences(built))
    assert len(groups) < len(_sequences(built))  # the story's prefixes really are shared
    scores = score_built(lm, built)
    assert sum(seen) == len(groups)  # one row per group, not per sequence
    for ex, s in zip(NESTED, scores, strict=True):
        lp, first, rank, _ = reference(lm, ex.prompt, ex.answer)
        assert s.logprob == pytest.approx(lp, abs=1e-4)
        assert s.first_logprob == pytest.approx(first, abs=1e-4)
        assert s.rank == rank
        if ex.wrong:
            ld, _ = decision_reference(lm, ex.prompt, ex.answer, ex.wrong)
            assert s.logit_diff_at_decision == pytest.approx(ld, abs=1e-4)
        for w, got in zip(ex.wrong, s.wrong_logprobs, strict=True):
            assert got == pytest.approx(reference(lm, ex.prompt, w)[0], abs=1e-4)
