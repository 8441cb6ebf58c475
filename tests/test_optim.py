"""SGD, Adam and AdamW: the same update equations as torch.optim (to 1e-10), in place; no_decay; lr
changed between steps."""

import numpy as np
import pytest

from dlcore import MLP, SGD, Adam, AdamW, BatchNorm1D, Dense, ReLU, Sequential, SoftmaxCrossEntropy

OPTIMISERS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, weight_decay=0.001)),
    ("Adam", dict(lr=1e-3)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.01, weight_decay=0.01)),
    ("AdamW", dict(lr=1e-3)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("AdamW", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.5)),
]


def make(name, model, kwargs):
    return {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}[name](model, **kwargs)


def torch_params(torch, model):
    """One torch leaf tensor per dlcore parameter, same values (float64)."""
    return [torch.tensor(p.copy(), requires_grad=True) for p in model.params.values()]


@pytest.mark.parametrize(("name", "kwargs"), OPTIMISERS)
@pytest.mark.parametrize("steps", [1, 5])
def test_update_equations_match_torch(torch, rng, name, kwargs, steps):
    """Feed both optimisers the same gradients; parameters must agree to 1e-10 after every step."""
    model = MLP([4, 5, 3], seed=0)
    tparams = torch_params(torch, model)
    topt = getattr(torch.optim, name)(tparams, **kwargs)
    opt = make(name, model, kwargs)
    for _ in range(steps):
        for layer in model.layers:
            layer.grads = {k: rng.standard_normal(p.shape) for k, p in layer.params.items()}
        for tp, g in zip(tparams, model.grads.values(), strict=True):
            tp.grad = torch.tensor(g)
        opt.step()
        topt.step()
        for p, tp in zip(model.params.values(), tparams, strict=True):
            np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("name", "kwargs"), OPTIMISERS)
def test_training_steps_match_torch(torch, rng, name, kwargs):
    """Real backprop + several steps, dlcore and torch side by side."""
    model = MLP([6, 8, 3], activation="tanh", output=None, seed=1)
    W1, b1, W2, b2 = torch_params(torch, model)
    topt = getattr(torch.optim, name)([W1, b1, W2, b2], **kwargs)
    opt, loss = make(name, model, kwargs), SoftmaxCrossEntropy()
    for _ in range(4):
        X, y = rng.standard_normal((10, 6)), rng.integers(0, 3, 10)
        loss(model.forward(X), y)
        model.backward(loss.backward())
        opt.step()
        logits = torch.tanh(torch.tensor(X) @ W1 + b1) @ W2 + b2
        topt.zero_grad()
        torch.nn.functional.cross_entropy(logits, torch.tensor(y)).backward()
        topt.step()
    for p, tp in zip(model.params.values(), [W1, b1, W2, b2], strict=True):
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("name", "kwargs"), OPTIMISERS)
def test_step_updates_in_place(rng, name, kwargs):
    model = MLP([3, 4, 2], seed=0)
    arrays = {k: p for k, p in model.params.items()}
    before = {k: p.copy() for k, p in arrays.items()}
    model.forward(rng.standard_normal((5, 3)))
    model.backward(rng.standard_normal((5, 2)))
    make(name, model, kwargs).step()
    for k, p in model.params.items():
        assert p is arrays[k] and p is model.layers[int(k[0])].params[k[2:]]
        assert not np.array_equal(p, before[k])


def test_float32_model_stays_float32(rng):
    model = MLP([3, 4, 2], dtype=np.float32)
    for opt in (SGD(model, lr=0.1, momentum=0.9, weight_decay=1e-4), Adam(model)):
        y = model.forward(rng.standard_normal((5, 3)).astype(np.float32))
        model.backward(np.ones_like(y))
        opt.step()
        assert all(p.dtype == np.float32 for p in model.params.values())


def test_optimiser_on_a_single_layer(rng):
    layer = Dense(3, 2, seed=0)
    layer.forward(rng.standard_normal((4, 3)))
    layer.backward(np.ones((4, 2)))
    W = layer.params["W"].copy()
    SGD(layer, lr=0.5).step()
    np.testing.assert_allclose(layer.params["W"], W - 0.5 * layer.grads["W"])


def test_zero_grad(rng):
    model = MLP([3, 4, 2])
    model.forward(rng.standard_normal((5, 3)))
    model.backward(np.ones((5, 2)))
    grads = model.grads
    SGD(model, lr=0.1).zero_grad()
    assert all(not g.any() and g is grads[k] for k, g in model.grads.items())


def test_step_before_backward_is_an_error():
    with pytest.raises(RuntimeError, match="backward"):
        SGD(MLP([2, 2]), lr=0.1).step()


def test_bad_learning_rate():
    with pytest.raises(ValueError, match="learning rate"):
        SGD(MLP([2, 2]), lr=0)


NO_DECAY = [("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.05)), ("Adam", dict(lr=0.01, weight_decay=0.05)),
            ("AdamW", dict(lr=0.01, weight_decay=0.5))]


@pytest.mark.parametrize(("name", "kwargs"), NO_DECAY)
def test_no_decay_matches_torch_param_groups(torch, rng, name, kwargs):
    """no_decay=("b", "gamma", "beta"): those parameters go into a torch group with weight_decay=0."""
    model = Sequential(Dense(4, 5, seed=0), BatchNorm1D(5), ReLU(), Dense(5, 3, seed=1))
    names = list(model.params)
    tparams = dict(zip(names, torch_params(torch, model), strict=True))
    spared = [n for n in names if n.rsplit(".", 1)[-1] in ("b", "gamma", "beta")]
    assert spared == ["0.b", "1.gamma", "1.beta", "3.b"]
    groups = [{"params": [tparams[n] for n in names if n not in spared]},
              {"params": [tparams[n] for n in spared], "weight_decay": 0.0}]
    topt = getattr(torch.optim, name)(groups, **kwargs)
    opt = make(name, model, dict(kwargs, no_decay=("b", "gamma", "beta")))
    for _ in range(5):
        grads = {n: rng.standard_normal(p.shape) for n, p in model.params.items()}
        for n, layer in enumerate(model.layers):
            layer.grads = {k: grads[f"{n}.{k}"] for k in layer.params}
        for n, tp in tparams.items():
            tp.grad = torch.tensor(grads[n])
        opt.step()
        topt.step()
        for n, p in model.params.items():
            np.testing.assert_allclose(p, tparams[n].detach().numpy(), rtol=1e-10, atol=1e-10)


def test_no_decay_leaves_biases_alone(rng):
    """Zero gradients: only the decay moves the parameters, and not the spared ones."""
    model = MLP([3, 4, 2], seed=0)
    for layer in model.layers:
        if layer.params:
            layer.params["b"][:] = rng.standard_normal(layer.params["b"].shape)
            layer.grads = {k: np.zeros_like(p) for k, p in layer.params.items()}
    before = {k: p.copy() for k, p in model.params.items()}
    AdamW(model, lr=0.1, weight_decay=0.5, no_decay=("b",)).step()
    for k, p in model.params.items():
        if k.endswith("b"):
            np.testing.assert_array_equal(p, before[k])
        else:
            np.testing.assert_allclose(p, before[k] * (1 - 0.1 * 0.5))
    with pytest.raises(TypeError, match="tuple"):
        SGD(model, lr=0.1, no_decay="b")


@pytest.mark.parametrize(("name", "kwargs"), [("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
                                              ("Adam", dict(lr=0.01)), ("AdamW", dict(lr=0.01))])
def test_lr_can_change_between_steps_like_torch(torch, rng, name, kwargs):
    model = MLP([4, 5, 3], seed=0)
    tparams = torch_params(torch, model)
    topt = getattr(torch.optim, name)(tparams, **kwargs)
    opt = make(name, model, kwargs)
    for lr in (0.05, 0.01, 0.2, 0.001):
        opt.lr = lr
        for group in topt.param_groups:
            group["lr"] = lr
        for layer in model.layers:
            layer.grads = {k: rng.standard_normal(p.shape) for k, p in layer.params.items()}
        for tp, g in zip(tparams, model.grads.values(), strict=True):
            tp.grad = torch.tensor(g)
        opt.step()
        topt.step()
    for p, tp in zip(model.params.values(), tparams, strict=True):
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-10, atol=1e-10)


def test_adamw_repr_and_defaults():
    opt = AdamW(MLP([2, 2]))
    assert opt.weight_decay == 1e-2 and opt.lr == 1e-3 and opt.no_decay == ()
    assert repr(opt) == "AdamW(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01)"
