"""NTXent (SimCLR's contrastive loss): value and both gradients vs a PyTorch reference in float64, finite
differences, its properties (scale invariance, log(2N - 1) for identical embeddings, near 0 for aligned
views, temperature sharpens), dtypes and errors in its own name."""

import math

import numpy as np
import pytest

from dlcore import NTXent
from dlcore.gradcheck import numerical_grad, rel_error

TOL = 1e-7


def torch_ntxent(torch, z1, z2, temperature):
    """The reference, written independently: F.normalize, a masked similarity matrix, F.cross_entropy."""
    F = torch.nn.functional
    N = len(z1)
    u = F.normalize(torch.cat([z1, z2]), dim=1)
    S = u @ u.T / temperature
    S = S.masked_fill(torch.eye(2 * N, dtype=torch.bool), -math.inf)
    targets = torch.cat([torch.arange(N, 2 * N), torch.arange(N)])
    return F.cross_entropy(S, targets)


@pytest.mark.parametrize(("N", "d", "temperature"), [(2, 2, 0.5), (2, 3, 1.0), (5, 4, 0.1), (8, 16, 0.5),
                                                     (16, 8, 0.05), (3, 2, 2.0)])
def test_matches_torch(torch, rng, N, d, temperature):
    z1, z2 = rng.standard_normal((2, N, d)) * rng.uniform(0.2, 5)
    loss = NTXent(temperature)
    value = loss(z1, z2)
    t1, t2 = torch.tensor(z1, requires_grad=True), torch.tensor(z2, requires_grad=True)
    ref = torch_ntxent(torch, t1, t2, temperature)
    ref.backward()
    assert abs(value - ref.item()) <= TOL * abs(ref.item())
    dz1, dz2 = loss.backward()
    assert dz1.shape == dz2.shape == (N, d)
    assert rel_error(dz1, t1.grad.numpy()) < TOL
    assert rel_error(dz2, t2.grad.numpy()) < TOL


@pytest.mark.parametrize(("N", "d", "temperature"), [(2, 2, 0.5), (4, 3, 0.2), (6, 5, 1.0)])
def test_finite_differences(rng, N, d, temperature):
    z1, z2 = rng.standard_normal((2, N, d))
    loss = NTXent(temperature)
    loss(z1, z2)
    dz1, dz2 = loss.backward()
    assert rel_error(dz1, numerical_grad(lambda: loss(z1, z2), z1)) < TOL
    assert rel_error(dz2, numerical_grad(lambda: loss(z1, z2), z2)) < TOL


def test_one_feature_has_no_gradient(torch, rng):
    """With d = 1 every row normalises to +1 or -1: no small change of z moves u, so the gradient is 0
    (exactly here; torch's is rounding noise) while the loss still counts which signs agree."""
    z1, z2 = rng.standard_normal((2, 4, 1))
    loss = NTXent(0.5)
    value = loss(z1, z2)
    assert value == pytest.approx(torch_ntxent(torch, torch.tensor(z1), torch.tensor(z2), 0.5).item(), rel=TOL)
    for g in loss.backward():
        np.testing.assert_array_equal(g, 0)


def test_invariant_to_scaling_rows(rng):
    """Only directions count: each row scaled by its own positive factor (even 1e-150 or 1e150, which would
    underflow or overflow a naive sqrt(sum(z^2))) gives the same loss; its gradient scales by 1 / factor."""
    z1, z2 = rng.standard_normal((2, 6, 4))
    loss = NTXent(0.3)
    value = loss(z1, z2)
    dz1, dz2 = loss.backward()
    c1 = rng.uniform(0.01, 100, (6, 1))
    c1[0], c1[1] = 1e-150, 1e150
    c2 = rng.uniform(0.01, 100, (6, 1))
    assert loss(c1 * z1, c2 * z2) == pytest.approx(value, rel=1e-13)
    g1, g2 = loss.backward()
    np.testing.assert_allclose(g1 * c1, dz1, rtol=1e-10, atol=0)
    np.testing.assert_allclose(g2 * c2, dz2, rtol=1e-10, atol=0)


@pytest.mark.parametrize("N", [2, 3, 10])
def test_identical_embeddings_give_log_2n_minus_1(rng, N):
    """All similarities equal: each anchor's softmax is uniform over its 2N - 1 others. The rows need only
    point the same way; the gradient is then along u, which the normalisation removes: zero."""
    z = np.tile(rng.standard_normal(5), (N, 1)) * rng.uniform(0.5, 2, (N, 1))
    loss = NTXent(0.5)
    assert loss(z, 3 * z) == pytest.approx(math.log(2 * N - 1), rel=1e-14)
    for g in loss.backward():
        np.testing.assert_allclose(g, 0, atol=1e-15)


def test_aligned_views_far_from_the_others_give_a_small_loss():
    """Each image's two views point the same way, and different images are orthogonal: every positive
    similarity is 1 / t, every negative 0, so L = log(1 + (2N - 2) e^(-1/t)), about 1.2e-8 for N = 4, t = 0.05."""
    N, t = 4, 0.05
    z1 = np.eye(N) * np.arange(1, N + 1)[:, None]
    z2 = 2 * np.eye(N)
    value = NTXent(t)(z1, z2)
    assert value == pytest.approx(math.log1p((2 * N - 2) * math.exp(-1 / t)), rel=1e-9)
    assert value < 2e-8
    opposite = NTXent(t)(z1, -z2)  # each view points away from its partner: a large loss
    assert opposite > 19


def test_lower_temperature_sharpens(rng):
    """Dividing by a smaller temperature sharpens every softmax: when each positive is the most similar row,
    the loss falls towards 0; when a negative beats a positive, the mistake is punished more and more."""
    z1 = rng.standard_normal((6, 8))
    z2 = z1 + 0.05 * rng.standard_normal((6, 8))  # each view next to its partner
    temperatures = [2.0, 1.0, 0.5, 0.2, 0.1, 0.05]
    good = [NTXent(t)(z1, z2) for t in temperatures]
    assert all(a > b for a, b in zip(good, good[1:], strict=False)) and good[-1] < 0.05
    bad = [NTXent(t)(z1, np.roll(z2, 1, axis=0)) for t in temperatures]  # partners swapped with negatives
    assert all(a < b for a, b in zip(bad, bad[1:], strict=False)) and bad[-1] > 10


def test_float32_stays_float32(rng):
    z1, z2 = rng.standard_normal((2, 5, 3)).astype(np.float32)
    loss = NTXent()
    value = loss(z1, z2)
    assert isinstance(value, float)
    dz1, dz2 = loss.backward()
    assert dz1.dtype == dz2.dtype == np.float32
    ref = NTXent()
    assert value == pytest.approx(ref(z1.astype(np.float64), z2.astype(np.float64)), rel=1e-5)
    np.testing.assert_allclose(dz1, ref.backward()[0], rtol=1e-4, atol=1e-6)


def test_large_batch_low_temperature_is_finite(rng):
    z1, z2 = rng.standard_normal((2, 64, 16)).astype(np.float32)
    loss = NTXent(0.01)  # similarities up to 100: exp would overflow float32 without log_softmax's shift
    assert np.isfinite(loss(z1, -z1))
    assert all(np.isfinite(g).all() for g in loss.backward())


def test_backward_twice_same_result_and_repr(rng):
    loss = NTXent(0.2)
    loss(*rng.standard_normal((2, 3, 4)))
    a, b = loss.backward(), loss.backward()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert repr(loss) == "NTXent(temperature=0.2)"
    assert NTXent().temperature == 0.5


def test_errors():
    loss = NTXent()
    ok = np.ones((3, 2))
    with pytest.raises(ValueError, match=r"z1 has shape \(3, 2\) but z2 has shape \(4, 2\)"):
        loss(ok, np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"z1 has shape \(3, 2\) but z2 has shape \(3, 5\)"):
        loss(ok, np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"NTXent expects embeddings of shape \(N, d\), got z1 of shape \(6,\)"):
        loss(np.ones(6), np.ones(6))
    with pytest.raises(ValueError, match=r"got z2 of shape \(3, 2, 1\)"):
        loss(ok, np.ones((3, 2, 1)))
    with pytest.raises(ValueError, match="NTXent needs N >= 2 pairs of views: with N = 1 an anchor has no negatives"):
        loss(np.ones((1, 4)), np.ones((1, 4)))
    with pytest.raises(ValueError, match="NTXent needs at least one sample"):
        loss(np.ones((0, 4)), np.ones((0, 4)))
    with pytest.raises(ValueError, match=r"at least one feature, got shape \(3, 0\)"):
        loss(np.ones((3, 0)), np.ones((3, 0)))
    bad = np.ones((3, 2))
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"NTXent: z2 contains NaN \(first at index \(2, 1\)\)"):
        loss(ok, bad)
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"NTXent: z1 contains inf \(first at index \(2, 1\)\)"):
        loss(bad, ok)
    zero = np.ones((3, 2))
    zero[1] = 0
    with pytest.raises(ValueError, match=r"row 1 of z2 is all zeros \(norm 0\)"):
        loss(ok, zero)
    with pytest.raises(ValueError, match=r"row 1 of z1 is all zeros"):
        loss(zero, zero)
    with pytest.raises(TypeError, match="z1 must be a numeric array"):
        loss(np.array([["a", "b"], ["c", "d"]]), ok[:2])
    for t in (0, -0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"NTXent temperature must be a finite number in \(0, inf\)"):
            NTXent(t)
    with pytest.raises(TypeError, match="NTXent temperature must be a real number"):
        NTXent("0.5")
    with pytest.raises(RuntimeError, match=r"NTXent.backward\(\) called before forward"):
        NTXent().backward()
