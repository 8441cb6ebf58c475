"""Optimiser hyper-parameters and bindings are checked when the optimiser is built (issue 11)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcore import MLP, SGD, Adam, BinaryCrossEntropy, Flatten, ReLU, Sequential, fit


@pytest.mark.parametrize("lr", [math.nan, math.inf, -math.inf, 0.0, -1e-3])
@pytest.mark.parametrize("cls", [SGD, Adam])
def test_learning_rate_must_be_finite_and_positive(cls, lr):
    with pytest.raises(ValueError, match="learning rate"):
        cls(MLP([2, 1]), lr=lr)


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.floats(max_value=-1e-12), st.floats(min_value=1.0), st.just(math.nan)))
def test_sgd_momentum_outside_zero_one_is_refused(momentum):
    with pytest.raises(ValueError, match="momentum"):
        SGD(MLP([2, 1]), lr=0.1, momentum=momentum)


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.floats(max_value=-1e-12), st.floats(min_value=1.0), st.just(math.nan)), st.booleans())
def test_adam_betas_outside_zero_one_are_refused(beta, first):
    betas = (beta, 0.999) if first else (0.9, beta)
    with pytest.raises(ValueError, match=rf"betas\[{0 if first else 1}\]"):
        Adam(MLP([2, 1]), betas=betas)


@pytest.mark.parametrize("kwargs", [{"eps": -1e-8}, {"eps": math.nan}, {"weight_decay": -0.1},
                                    {"weight_decay": math.inf}, {"betas": (0.9,)}])
def test_adam_refuses_bad_eps_weight_decay_and_betas(kwargs):
    with pytest.raises(ValueError, match="eps|weight_decay|betas"):
        Adam(MLP([2, 1]), **kwargs)


@pytest.mark.parametrize("weight_decay", [-0.1, math.nan])
def test_sgd_refuses_bad_weight_decay(weight_decay):
    with pytest.raises(ValueError, match="weight_decay"):
        SGD(MLP([2, 1]), lr=0.1, weight_decay=weight_decay)


@settings(max_examples=40, deadline=None)
@given(st.floats(0, 1, exclude_max=True), st.floats(0, 1, exclude_max=True), st.floats(0, 1),
       st.floats(0, 1e-3))
def test_valid_hyper_parameters_are_accepted(b1, b2, wd, eps):
    model = MLP([2, 1])
    SGD(model, lr=0.1, momentum=b1, weight_decay=wd)
    Adam(model, lr=1e-3, betas=(b1, b2), eps=eps, weight_decay=wd)


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_model_without_parameters_is_refused(cls):
    with pytest.raises(ValueError, match="no parameters"):
        cls(Sequential(ReLU(), Flatten()), lr=0.1)


def test_optimiser_bound_to_another_model_is_refused_by_fit():
    X, y = np.random.default_rng(0).normal(size=(10, 2)), np.arange(10) % 2
    model, other = MLP([2, 1], seed=0), MLP([2, 1], seed=1)
    before = {k: p.copy() for k, p in other.params.items()}
    with pytest.raises(ValueError, match="built for another model"):
        fit(model, BinaryCrossEntropy(), SGD(other, lr=0.1), X, y, epochs=1)
    for k, p in other.params.items():  # nothing was updated
        np.testing.assert_array_equal(p, before[k])
