"""dlcore.functional: activations, their derivatives, softmax, im2col/col2im."""

import numpy as np
import pytest

from dlcore import functional as F
from dlcore.gradcheck import numerical_grad, rel_error

TOL = 1e-7


def test_sigmoid_is_stable_for_large_inputs():
    z = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow warnings
        s = F.sigmoid(z)
    assert np.all(np.isfinite(s))
    assert s[0] == 0.0 and s[-1] == 1.0 and s[2] == 0.5
    np.testing.assert_allclose(F.sigmoid(-z), 1 - s, atol=1e-15)


def test_sigmoid_matches_torch(torch, rng):
    z = rng.standard_normal(50) * 20
    np.testing.assert_allclose(F.sigmoid(z), torch.sigmoid(torch.tensor(z)).numpy(), rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize(("f", "df"), [(F.sigmoid, F.sigmoid_grad), (F.relu, F.relu_grad), (np.tanh, F.tanh_grad),
                                        (F.leaky_relu, lambda z: np.where(z > 0, 1.0, 0.01))])
def test_derivatives_match_finite_differences(f, df, rng):
    z = rng.standard_normal((4, 5)) * 3
    numeric = numerical_grad(lambda: float(np.sum(f(z))), z)
    assert rel_error(df(z), numeric) < TOL


def test_relu_grad_is_zero_at_the_kink():
    assert F.relu_grad(np.array([-1.0, 0.0, 2.0])).tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_keep_dtype(dtype):
    z = np.linspace(-3, 3, 7).astype(dtype)
    for f in (F.sigmoid, F.sigmoid_grad, F.relu, F.relu_grad, F.tanh_grad, F.leaky_relu, F.softmax, F.log_softmax):
        assert f(z).dtype == dtype, f.__name__


def test_softmax_and_log_softmax_match_torch(torch, rng):
    z = rng.standard_normal((6, 4)) * 30
    zt = torch.tensor(z)
    np.testing.assert_allclose(F.softmax(z), torch.softmax(zt, 1).numpy(), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(F.log_softmax(z), torch.log_softmax(zt, 1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(F.softmax(z, axis=0), torch.softmax(zt, 0).numpy(), rtol=1e-12, atol=1e-300)


def test_softmax_huge_logits_no_overflow():
    z = np.array([[1000.0, 0.0, -1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        p, logp = F.softmax(z), F.log_softmax(z)
    np.testing.assert_allclose(p.sum(), 1.0)
    assert np.isfinite(logp).all() and logp[0, 0] == 0.0


@pytest.mark.parametrize(("n", "k", "s", "p", "expected"), [(28, 3, 1, 1, 28), (28, 3, 2, 1, 14), (7, 3, 3, 0, 2),
                                                            (5, 5, 1, 0, 1), (5, 2, 2, 0, 2), (6, 3, 2, 2, 4)])
def test_conv_output_size(n, k, s, p, expected):
    assert F.conv_output_size(n, k, s, p) == expected


@pytest.mark.parametrize(("shape", "k", "s", "p"), [((2, 3, 5, 7), 3, 1, 0), ((1, 2, 6, 5), 2, 2, 1),
                                                    ((3, 1, 8, 8), 3, 3, 2), ((2, 2, 4, 4), 4, 1, 0)])
def test_im2col_matches_torch_unfold(torch, rng, shape, k, s, p):
    x = rng.standard_normal(shape)
    cols = F.im2col(x, k, k, s, p)  # (N, C*k*k, L): the same layout as torch's unfold
    ref = torch.nn.functional.unfold(torch.tensor(x), k, padding=p, stride=s).numpy()
    np.testing.assert_array_equal(cols, ref)


@pytest.mark.parametrize(("shape", "k", "s", "p"), [((2, 3, 5, 7), 3, 1, 0), ((1, 2, 6, 5), 2, 2, 1),
                                                    ((3, 1, 8, 8), 3, 3, 2), ((2, 2, 7, 6), 3, 2, 1)])
def test_col2im_is_the_adjoint_of_im2col(rng, shape, k, s, p):
    """<im2col(x), c> == <x, col2im(c)> for all x, c: exactly what backprop through im2col needs."""
    x = rng.standard_normal(shape)
    c = rng.standard_normal(F.im2col(x, k, k, s, p).shape)
    lhs = np.sum(F.im2col(x, k, k, s, p) * c)
    rhs = np.sum(x * F.col2im(c, shape, k, k, s, p))
    assert abs(lhs - rhs) < 1e-10 * max(1.0, abs(lhs))


def test_col2im_matches_torch_fold(torch, rng):
    shape, k, s, p = (2, 3, 7, 6), 3, 2, 1
    c = rng.standard_normal(F.im2col(np.zeros(shape), k, k, s, p).shape)
    ref = torch.nn.functional.fold(torch.tensor(c), shape[2:], k, padding=p, stride=s).numpy()
    np.testing.assert_allclose(F.col2im(c, shape, k, k, s, p), ref, rtol=1e-12, atol=1e-12)
