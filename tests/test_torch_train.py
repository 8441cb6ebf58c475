"""Chapter 7's PyTorch side: the ResNet builder, the training recipe (dlcore.torch_train) and the copy of
dlcore models with batch norm, dropout and residual blocks into torch (from_dlcore), checked in float64."""

import numpy as np
import pytest

import dlcore
from dlcore import torch_models, torch_train
from dlcore.gradcheck import rel_error


def test_importing_the_torch_modules_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, dlcore.torch_train, dlcore.torch_models, dlcore.torch_ddp; "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(("skips", "batch_norm"), [(True, True), (False, True), (True, False)])
def test_fashion_resnet_shapes(torch, skips, batch_norm):
    torch.manual_seed(0)
    model = torch_models.fashion_resnet(skips=skips, batch_norm=batch_norm).eval()
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    names = list(model.state_dict())
    assert any(".f.0.weight" in n for n in names) == skips  # the residual's branch is called f, as in dlcore
    assert any("running_mean" in n for n in names) == batch_norm


def test_skips_add_no_parameters(torch):
    plain, resnet = torch_models.fashion_resnet(skips=False), torch_models.fashion_resnet()
    assert torch_train.count_parameters(plain) == torch_train.count_parameters(resnet)


def test_shift_flip_moves_a_pixel_by_the_drawn_shift(torch):
    x = torch.zeros(64, 1, 9, 9)
    x[:, 0, 4, 4] = 1.0
    out = torch_train.shift_flip(x, torch.Generator().manual_seed(0), max_shift=2, flip=False, fill=0.0)
    assert out.shape == x.shape and out.is_contiguous(memory_format=torch.channels_last)
    where = out[:, 0].flatten(1).argmax(1)
    rows, cols = where // 9, where % 9
    assert (out.sum(dim=(1, 2, 3)) == 1).all()  # a shift of at most 2 never pushes the pixel out
    assert set(rows.tolist()) == set(range(2, 7)) and set(cols.tolist()) == set(range(2, 7))


def test_shift_flip_fills_with_background_and_flips(torch):
    x = torch.arange(16.0).reshape(1, 1, 4, 4).repeat(200, 1, 1, 1)
    out = torch_train.shift_flip(x, torch.Generator().manual_seed(1), max_shift=0, flip=True)
    flipped = (out == x.flip(3)).flatten(1).all(1)
    same = (out == x).flatten(1).all(1)
    assert (flipped | same).all() and 60 < int(flipped.sum()) < 140
    shifted = torch_train.shift_flip(x, torch.Generator().manual_seed(2), max_shift=3, flip=False)
    assert shifted.min() == 0  # the fill: the batch minimum
    again = torch_train.shift_flip(x, torch.Generator().manual_seed(2), max_shift=3, flip=False)
    assert torch.equal(shifted, again)


def test_param_groups_decay_only_weights(torch):
    model = torch_models.fashion_resnet()
    decay, no_decay = torch_train.param_groups(model, 5e-4)
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_fit_and_evaluate_on_a_tiny_problem(torch):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(256, 1, 28, 28, generator=g)
    y = (X.mean(dim=(1, 2, 3)) > 0).long()  # a learnable rule
    torch.manual_seed(0)
    model = torch_models.fashion_resnet(c1=4, c2=8, hidden=16)
    history = torch_train.fit(model, X, y, X[:64], y[:64], epochs=3, batch_size=32, max_lr=1e-2, log=None)
    assert len(history["loss"]) == 3 and history["steps"] == 3 * 8 and history["seconds"] > 0
    assert np.isfinite(history["loss"]).all() and history["loss"][-1] < history["loss"][0]
    assert not model.training
    loss, acc, logits = torch_train.evaluate(model, X[:64], y[:64], batch_size=20, tta_flip=True)
    assert logits.shape == (64, 10) and 0 <= acc <= 1 and np.isfinite(loss)


def test_fit_reports_divergence(torch):
    X, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    model = torch_models.fashion_resnet(c1=4, c2=8, hidden=16, batch_norm=False)
    with torch.no_grad():
        model[0].weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="loss became nan in epoch 1: training diverged"):
        torch_train.fit(model, X, y, X, y, epochs=1, batch_size=32, log=None)


def _dlcore_net(rng):
    f = dlcore.Sequential(dlcore.Conv2D(4, 4, 3, padding=1, rng=rng), dlcore.BatchNorm2D(4), dlcore.ReLU(),
                          dlcore.Conv2D(4, 4, 3, padding=1, rng=rng), dlcore.BatchNorm2D(4))
    net = dlcore.Sequential(dlcore.Conv2D(2, 4, 3, padding=1, rng=rng), dlcore.BatchNorm2D(4), dlcore.ReLU(),
                            dlcore.Residual(f), dlcore.ReLU(), dlcore.MaxPool2D(2), dlcore.Flatten(),
                            dlcore.Dense(4 * 3 * 3, 8, rng=rng), dlcore.BatchNorm1D(8), dlcore.ReLU(),
                            dlcore.Dropout(0.5, seed=0), dlcore.Dense(8, 3, rng=rng))
    for name, p in net.params.items():  # random biases, scales and shifts: a stricter comparison
        if not name.endswith("W"):
            p[...] = rng.uniform(0.5, 1.5, p.shape) if name.endswith("gamma") else rng.normal(0, 0.3, p.shape)
    return net


def test_from_dlcore_copies_batch_norm_dropout_and_residual(torch):
    rng = np.random.default_rng(0)
    net = _dlcore_net(rng)
    x = rng.normal(size=(6, 2, 6, 6))
    # a few training steps first, so that the running statistics are not the initial ones
    for _ in range(3):
        net.train().forward(rng.normal(size=(6, 2, 6, 6)))
    tnet = torch_models.from_dlcore(net)
    assert not tnet.training
    assert "3.f.1.running_var" in tnet.state_dict() and "3.f.1.running_var" in net.buffers
    # eval mode: the same function
    assert rel_error(net.eval().forward(x), tnet(torch.from_numpy(x)).detach().numpy()) < 1e-10
    # training mode, without dropout (its masks come from different generators): outputs and gradients
    net.layers[10].p = 0.0
    tnet[10].p = 0.0
    net.train()
    tnet.train()
    xt = torch.tensor(x, requires_grad=True)
    yt = tnet(xt)
    dy = rng.normal(size=tuple(yt.shape))
    yt.backward(torch.from_numpy(dy))
    y = net.forward(x)
    dx = net.backward(dy)
    assert rel_error(y, yt.detach().numpy()) < 1e-10
    assert rel_error(dx, xt.grad.numpy()) < 1e-9
    torch_grads = {name: p.grad.numpy() for name, p in tnet.named_parameters()}
    for name, g in net.grads.items():
        tname = name.replace(".gamma", ".weight").replace(".beta", ".bias").replace(".W", ".weight")
        tname = tname.replace(".b", ".bias") if tname.endswith(".b") else tname
        ref = torch_grads[tname].T if g.ndim == 2 else torch_grads[tname]
        # a bias right before a batch norm has gradient 0 (BN removes the mean): compare absolutely there
        assert rel_error(g, ref) < 1e-9 or np.abs(g - ref).max() < 1e-12, name
    running = {n: b for n, b in tnet.state_dict().items() if "running" in n}
    for name, value in running.items():  # the training step updated both sides' statistics the same way
        assert rel_error(net.buffers[name], value.numpy()) < 1e-12, name


def test_fit_trains_a_segmenter_on_per_pixel_uint8_labels(torch):
    # one label per pixel (N, H, W), stored as uint8: fit counts pixel accuracy and calls val_metric
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    X = torch.rand(16, 1, 8, 8, generator=g)
    y = (X[:, 0] > 0.5).to(torch.uint8)  # a pixel's class is whether it is bright
    model = torch_models.unet(n_classes=2, width=4, levels=1)
    seen = []

    def metric(logits, labels):
        seen.append((tuple(logits.shape), tuple(labels.shape)))
        return (logits.argmax(1) == labels.long()).float().mean().item()

    hist = torch_train.fit(model, X, y, X[:8], y[:8], epochs=40, batch_size=8, max_lr=1e-2,
                           label_smoothing=0.0, augment=None, log=None, val_metric=metric)
    assert seen == [((8, 2, 8, 8), (8, 8, 8))] * 40
    assert hist["val_metric"] == pytest.approx(hist["val_acc"])
    assert 0 <= hist["acc"][0] <= 1 and hist["acc"][-1] > 0.95  # learns the pixel rule
    loss, acc, logits = torch_train.evaluate(model, X, y)
    assert logits.shape == (16, 2, 8, 8) and acc > 0.95
