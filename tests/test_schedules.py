"""Learning-rate schedules (one-cycle vs torch's OneCycleLR) and the lr range test."""

import math

import numpy as np
import pytest

from dlcore import MLP, SGD, SoftmaxCrossEntropy
from dlcore.schedules import (
    constant,
    cosine,
    lr_range_test,
    lr_schedule,
    one_cycle,
    step_decay,
    with_warmup,
)


@pytest.mark.parametrize("T", [20, 97, 400])
@pytest.mark.parametrize(("pct_start", "div_factor", "final_div_factor"), [(0.25, 25, 1e4), (0.3, 10, 100)])
def test_one_cycle_matches_torch(torch, T, pct_start, div_factor, final_div_factor):
    max_lr = 0.1
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=max_lr, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=T, pct_start=pct_start,
                                                div_factor=div_factor, final_div_factor=final_div_factor)
    expected = []
    for t in range(T):
        expected.append(sched.get_last_lr()[0])
        opt.step()
        if t < T - 1:
            sched.step()
    lr = lr_schedule(one_cycle, max_lr, T, pct_start=pct_start, div_factor=div_factor,
                     final_div_factor=final_div_factor)
    np.testing.assert_allclose([lr(t) for t in range(T)], expected, rtol=1e-12, atol=0)


def test_one_cycle_shape():
    T = 100
    m = [one_cycle(t, T) for t in range(T)]
    assert m[0] == pytest.approx(1 / 25) and max(m) == pytest.approx(1) and np.argmax(m) == 24
    assert m[-1] == pytest.approx(1 / 25e4)
    assert all(a <= b for a, b in zip(m[:25], m[1:25], strict=False))
    assert all(a >= b for a, b in zip(m[24:], m[25:], strict=False))


def test_step_decay_and_constant():
    T = 100
    assert [step_decay(t, T) for t in (0, 49, 50, 74, 75, 99)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    assert step_decay(30, T, drop=0.5, milestones=(0.2, 0.3)) == 0.25
    assert constant(7, 10) == 1.0


def test_step_decay_matches_torch_multistep(torch):
    T, base = 40, 0.3
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[20, 30], gamma=0.1)
    expected = []
    for _ in range(T):
        expected.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    lr = lr_schedule(step_decay, base, T)
    np.testing.assert_allclose([lr(t) for t in range(T)], expected, rtol=1e-12)


def test_cosine_with_and_without_warmup(torch):
    T, base = 50, 0.2
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=T)
    expected = []
    for _ in range(T):
        expected.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    np.testing.assert_allclose([base * cosine(t, T) for t in range(T)], expected, rtol=1e-10)
    warm = [cosine(t, T, warmup=5) for t in range(T)]
    assert warm[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert warm[5:] == pytest.approx([cosine(t, T - 5) for t in range(T - 5)])


def test_with_warmup_wraps_any_schedule():
    f = with_warmup(step_decay, 4)
    assert [f(t, 44) for t in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert f(4, 44) == 1 and f(4 + 20, 44) == pytest.approx(0.1)
    assert f(30, 44, drop=0.5) == pytest.approx(0.5)


def blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.array([[2.0, 0], [-1, 2], [-1, -2]])
    return centres[y] + rng.standard_normal((n, 2)) * 0.7, y


def test_lr_range_test():
    X, y = blobs()

    def run(seed=0):
        return lr_range_test(lambda: MLP([2, 16, 3], activation="relu", output=None, seed=0),
                             SoftmaxCrossEntropy(), lambda m: SGD(m, lr=1e-3), X, y,
                             lr_min=1e-4, lr_max=1e3, steps=80, batch_size=32, seed=seed)

    lrs, losses = run()
    assert len(lrs) == len(losses) and 10 < len(lrs) < 80  # stopped when the loss blew up
    ratios = lrs[1:] / lrs[:-1]
    np.testing.assert_allclose(ratios, (1e3 / 1e-4) ** (1 / 79))  # exponential steps
    assert lrs[0] == pytest.approx(1e-4)
    assert np.isfinite(losses).all()
    assert losses[-1] > 4 * losses[:-1].min() or not math.isfinite(losses[-1])
    assert losses.min() < 0.5 * losses[0]  # it learned at the good learning rates
    lrs2, losses2 = run()
    np.testing.assert_array_equal(losses, losses2)


def test_lr_range_test_runs_all_steps_when_stable():
    X, y = blobs(100)
    lrs, losses = lr_range_test(lambda: MLP([2, 4, 3], output=None, seed=0), SoftmaxCrossEntropy(),
                                lambda m: SGD(m, lr=1e-3), X, y, lr_min=1e-5, lr_max=1e-3, steps=12,
                                batch_size=40)
    assert len(lrs) == 12 and lrs[-1] == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="lr_min"):
        lr_range_test(lambda: None, None, None, X, y, lr_min=1, lr_max=0.1)
