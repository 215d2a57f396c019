"""Strategies turn scores into plans: the one a run uses for each kind of criterion, and the iterative strategy
against a hand loop (re-score under the current mask, prune the next lowest)."""
import torch

from hpbench.criteria.base import Criterion
from hpbench.criteria.strategies import STRATEGIES, Level, strategy_for


def _crit(mask_fn=None, rescoring=True, fn=None):
    return Criterion("c", fn or (lambda ctx: torch.zeros(2, 3)), mask_fn=mask_fn, rescoring=rescoring)


def test_the_strategy_a_run_uses():
    assert strategy_for(_crit()) == "one-shot"
    assert strategy_for(_crit(), iterative=True) == "iterative"
    assert strategy_for(_crit(rescoring=False), iterative=True) == "one-shot"  # random: re-scoring changes nothing
    assert strategy_for(_crit(mask_fn=lambda ctx, n: None), iterative=True) == "search"
    assert strategy_for(_crit(mask_fn=lambda ctx, n: None), structured=True) == "units"


class _Ctx:
    """Scores that depend on the mask: layer 0's kept heads gain 3 for each pruned head of layer 0 (what is left of a
    thinned layer matters more)."""

    base = torch.tensor([[5.0, 1.0, 2.5], [3.0, 2.0, 6.0]])

    def __init__(self, keep=None):
        self.keep = keep

    def under(self, keep):
        return _Ctx(keep)


def _score(ctx):
    if ctx.keep is None:
        return _Ctx.base.clone()
    s = _Ctx.base.clone()
    s[0] += 3.0 * (~ctx.keep[0]).sum()
    return s


def test_iterative_strategy_equals_a_hand_loop():
    crit = _crit(fn=_score)
    state, got = {}, []
    for s, n in ((0.0, 0), (0.34, 2), (0.5, 3)):
        got.append(STRATEGIES.get("iterative")(Level(crit, {}, _Ctx(), _score(_Ctx()), s, n, state=state)).keep)
    # by hand: level 1 prunes the 2 lowest unpruned scores (1.0: layer 0 head 1; 2.0: layer 1 head 1); level 2
    # re-scores under that mask: layer 0 -> [8, -, 5.5], layer 1 -> [3, -, 6]: the next to go is layer 1 head 0
    want1 = torch.tensor([[1, 0, 1], [1, 0, 1]], dtype=torch.bool)
    want2 = torch.tensor([[1, 0, 1], [0, 0, 1]], dtype=torch.bool)
    assert got[0].all() and torch.equal(got[1], want1) and torch.equal(got[2], want2)
    # one-shot ranks the unpruned scores only: its third head is layer 0 head 2 (2.5)
    one_shot = STRATEGIES.get("one-shot")(Level(crit, {}, _Ctx(), _score(_Ctx()), 0.5, 3)).keep
    assert torch.equal(one_shot, torch.tensor([[1, 0, 0], [1, 0, 1]], dtype=torch.bool))
