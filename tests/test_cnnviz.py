"""Tests for dlcore.cnnviz and dlcore.torch_models.

The key property: the same weights give the same pictures in both frameworks. A small seeded dlcore CNN is
copied by hand into an equivalent float64 torch model; feature maps, filters and saliency maps must agree to
1e-10. PyTorch comes from the ``torch`` fixture (conftest.py), so these tests skip without it.
"""

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dlcore import cnnviz, torch_models  # noqa: E402
from dlcore.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU  # noqa: E402
from dlcore.model import Sequential  # noqa: E402

TOL = 1e-10


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def small_dlcore_cnn(seed=0):
    """Conv(1->4, 3x3, pad 1) ReLU Pool2 Conv(4->6, 3x3, pad 1) ReLU Pool2 Flatten Dense(6*3*3 -> 5), float64.

    Biases are made non-zero so that copying them is tested too.
    """
    rng = np.random.default_rng(seed)
    model = Sequential(Conv2D(1, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
                       Conv2D(4, 6, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
                       Flatten(), Dense(6 * 3 * 3, 5, rng=rng))
    for layer in model.layers:
        if "b" in layer.params:
            layer.params["b"][:] = rng.normal(0, 0.1, layer.params["b"].shape)
    return model


def copy_to_torch(torch, model):
    """The same network in torch (float64), weights copied by hand (not with torch_models.from_dlcore)."""
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(6 * 3 * 3, 5)).double()
    with torch.no_grad():
        for i in (0, 3):
            net[i].weight.copy_(torch.from_numpy(model.layers[i].params["W"]))  # same (c_out, c_in, k, k)
            net[i].bias.copy_(torch.from_numpy(model.layers[i].params["b"]))
        net[7].weight.copy_(torch.from_numpy(model.layers[7].params["W"].T))  # Linear stores W transposed
        net[7].bias.copy_(torch.from_numpy(model.layers[7].params["b"]))
    return net


@pytest.fixture
def pair(torch):
    model = small_dlcore_cnn()
    return model, copy_to_torch(torch, model)


@pytest.fixture
def images():
    return np.random.default_rng(1).random((7, 1, 12, 12))


# ----------------------------------------------------------------------------- same weights, same pictures


def test_conv_layers_have_the_same_names(pair):
    model, net = pair
    assert [name for name, _ in cnnviz.conv_layers(model)] == ["0", "3"]
    assert [name for name, _ in cnnviz.conv_layers(net)] == ["0", "3"]
    assert cnnviz.conv_layers(model)[1][1] is model.layers[3]
    assert cnnviz.conv_layers(net)[1][1] is net[3]


@pytest.mark.parametrize("stage", ["conv", "activation"])
def test_feature_maps_agree(pair, images, stage):
    model, net = pair
    a = cnnviz.feature_maps(model, images[0], stage=stage)
    b = cnnviz.feature_maps(net, images[0], stage=stage)
    assert list(a) == list(b) == ["0", "3"]
    assert a["0"].shape == (4, 12, 12) and a["3"].shape == (6, 6, 6)
    for name in a:
        assert b[name].dtype == np.float64
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=TOL)
    if stage == "activation":
        assert all(m.min() >= 0 for m in a.values())  # after ReLU
    else:
        assert any(m.min() < 0 for m in a.values())


def test_feature_maps_are_the_layer_outputs(pair, images):
    model, _ = pair
    x = images[:1]
    conv0 = model.layers[0].forward(x)[0]
    np.testing.assert_array_equal(cnnviz.feature_maps(model, x, layers=0, stage="conv")["0"], conv0)
    np.testing.assert_array_equal(cnnviz.feature_maps(model, x, layers="0")["0"], np.maximum(conv0, 0))
    assert list(cnnviz.feature_maps(model, x, layers=-1)) == ["3"]


def test_filters_agree_and_are_what_is_drawn(pair):
    model, net = pair
    for layer in (0, 1):
        for input_channel in (None, 0, -1):
            a = cnnviz.filter_images(model, layer, input_channel)
            b = cnnviz.filter_images(net, layer, input_channel)
            np.testing.assert_allclose(a, b, rtol=0, atol=TOL)
    np.testing.assert_array_equal(cnnviz.filter_images(model, 0), model.layers[0].params["W"][:, 0])
    np.testing.assert_array_equal(cnnviz.filter_images(model, 1), model.layers[3].params["W"].mean(axis=1))
    for m in (model, net):
        fig = cnnviz.plot_filters(m, layer=1, ncols=4)
        drawn = [ax.images[0].get_array() for ax in fig.axes if ax.images]
        assert len(drawn) == 6
        np.testing.assert_allclose(np.stack(drawn), cnnviz.filter_images(model, 1), rtol=0, atol=TOL)
        limits = {ax.images[0].get_clim() for ax in fig.axes if ax.images}
        assert len(limits) == 1 and sum(limits.pop()) == 0  # one symmetric scale for the layer


@pytest.mark.parametrize("targets", [None, [0, 1, 2, 3, 4, 0, 1]])
def test_saliency_agrees(pair, images, targets):
    model, net = pair
    a = cnnviz.saliency(model, images, targets)
    b = cnnviz.saliency(net, images, targets, batch_size=3)  # batching must not matter
    assert a.shape == b.shape == (7, 12, 12)
    np.testing.assert_allclose(a, b, rtol=0, atol=TOL)
    assert a.min() >= 0 and a.max() > 0


def test_saliency_is_the_input_gradient(pair, images):
    """A finite-difference check of one pixel of one map (dlcore path; torch agrees by the test above)."""
    model, _ = pair
    x = images[:1].copy()
    target = int(model.forward(x).argmax())
    i, j, h = 5, 6, 1e-6
    xp, xm = x.copy(), x.copy()
    xp[0, 0, i, j] += h
    xm[0, 0, i, j] -= h
    numeric = (model.forward(xp)[0, target] - model.forward(xm)[0, target]) / (2 * h)
    assert cnnviz.saliency(model, x)[0, i, j] == pytest.approx(abs(numeric), rel=1e-6, abs=1e-9)


def test_top_activating_agrees_and_is_sorted(pair, images):
    model, net = pair
    for reduce in ("mean", "max"):
        acts = cnnviz.channel_activations(model, images, layer=1, reduce=reduce)
        np.testing.assert_allclose(acts, cnnviz.channel_activations(net, images, layer=1, reduce=reduce,
                                                                    batch_size=2), rtol=0, atol=TOL)
        assert acts.shape == (7, 6)
        top = cnnviz.top_activating(model, images, layer=1, channel=2, k=3, reduce=reduce)
        np.testing.assert_array_equal(top, cnnviz.top_activating(net, images, 1, 2, k=3, reduce=reduce))
        assert list(acts[top, 2]) == sorted(acts[:, 2], reverse=True)[:3]


def test_model_outputs_agree(pair, images):
    model, net = pair
    np.testing.assert_allclose(cnnviz.model_outputs(model, images),
                               cnnviz.model_outputs(net, images, batch_size=4), rtol=0, atol=TOL)


def test_torch_model_is_left_as_it_was(torch, pair, images):
    _, net = pair
    net.train()
    cnnviz.feature_maps(net, images[0])
    cnnviz.saliency(net, images)
    cnnviz.top_activating(net, images, 0, 0, k=2)
    assert net.training
    assert all(not m._forward_hooks for m in net.modules())
    assert all(p.grad is None for p in net.parameters())


def test_inplace_relu_does_not_change_the_captured_conv_output(torch, images):
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(300, 2)).double()
    maps = cnnviz.feature_maps(net, images[0], stage="conv")["0"]
    with torch.no_grad():
        expected = net[0](torch.from_numpy(images[:1]))[0].numpy()
    np.testing.assert_array_equal(maps, expected)
    assert maps.min() < 0


# ----------------------------------------------------------------------------- plots


def test_plots_draw_the_expected_panels(pair, images):
    model, net = pair
    fig = cnnviz.plot_feature_maps(net, images[0], layer=1, max_maps=4)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 5  # the input and 4 maps
    maps = cnnviz.feature_maps(model, images[0], layers=1)["3"]
    np.testing.assert_allclose(panels[1].images[0].get_array(), maps[0], rtol=0, atol=TOL)
    fig = cnnviz.plot_feature_maps(model, images[0], layer=0, channels=[3, 1], show_input=False, stage="conv")
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["ch 3", "ch 1"]
    sal = cnnviz.saliency(model, images[:3])
    fig = cnnviz.plot_saliency(images[:3], {"dlcore": sal, "torch": sal}, labels=[0, 1, 2], preds=[0, 1, 1])
    assert len([ax for ax in fig.axes if ax.images]) == 9
    assert fig.axes[2].title.get_color() == "red"  # third image: predicted 1, true 2
    before, after = plt.figure(figsize=(8, 3)).subfigures(1, 2)
    assert cnnviz.plot_filters(model, fig=before) is before
    cnnviz.plot_filters(net, fig=after, colorbar=False, shared_scale=False)


# ----------------------------------------------------------------------------- errors


def test_bad_inputs_raise_clear_errors(pair, images):
    model, net = pair
    for m in (model, net):
        with pytest.raises(ValueError, match=r"image must have shape \(C, H, W\).*image\[None\]"):
            cnnviz.feature_maps(m, images[0, 0])  # (H, W): no channel axis
        with pytest.raises(ValueError, match="image must have shape"):
            cnnviz.feature_maps(m, images[:2])  # two images
        with pytest.raises(ValueError, match="C = 1"):
            cnnviz.feature_maps(m, np.zeros((3, 12, 12)))  # wrong number of channels
        with pytest.raises(IndexError, match="conv layer 2 is out of range.*2 conv layer"):
            cnnviz.feature_maps(m, images[0], layers=2)
        with pytest.raises(IndexError, match="out of range"):
            cnnviz.plot_filters(m, layer=-3)
        with pytest.raises(ValueError, match="no conv layer named 'x'"):
            cnnviz.plot_feature_maps(m, images[0], layer="x")
        with pytest.raises(ValueError, match="stage must be one of"):
            cnnviz.feature_maps(m, images[0], stage="relu")
        with pytest.raises(ValueError, match=r"images must have shape \(N, 1, H, W\).*images\[:, None\]"):
            cnnviz.saliency(m, images[:, 0])
        with pytest.raises(ValueError, match="targets has 2 entries for 7 images"):
            cnnviz.saliency(m, images, targets=[0, 1])
        with pytest.raises(ValueError, match="class indices in 0..4"):
            cnnviz.saliency(m, images, targets=[5] * 7)
        with pytest.raises(IndexError, match="channel 6 is out of range"):
            cnnviz.top_activating(m, images, layer=1, channel=6)
        with pytest.raises(ValueError, match="k must be between 1 and the number of images"):
            cnnviz.top_activating(m, images, layer=1, channel=0, k=8)
        with pytest.raises(IndexError, match="input_channel 4 is out of range"):
            cnnviz.filter_images(m, 1, input_channel=4)
    with pytest.raises(ValueError, match="no conv layers"):
        cnnviz.feature_maps(Sequential(Dense(4, 2)), np.zeros((1, 2, 2)))
    with pytest.raises(TypeError, match="dlcore Sequential or a torch nn.Module"):
        cnnviz.conv_layers(object())
    with pytest.raises(ValueError, match="shape"):
        cnnviz.plot_saliency(images[:2], np.zeros((2, 5, 5)))


def test_stage_activation_needs_an_activation_module(torch, images):
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(200, 2)).double()
    with pytest.raises(ValueError, match="no activation layer after it.*stage='conv'"):
        cnnviz.feature_maps(net, images[0])
    assert cnnviz.feature_maps(net, images[0], stage="conv")["0"].shape == (2, 10, 10)


# ----------------------------------------------------------------------------- torch_models


def test_modules_import_without_torch():
    code = "import sys, dlcore.cnnviz, dlcore.torch_models; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_converters_round_trip(torch, pair, images):
    model, net = pair
    back = torch_models.to_dlcore(torch_models.from_dlcore(model))
    assert [type(a) for a in back.layers] == [type(b) for b in model.layers]
    np.testing.assert_allclose(back.forward(images), model.forward(images), rtol=0, atol=TOL)
    np.testing.assert_allclose(torch_models.to_dlcore(net).forward(images), model.forward(images),
                               rtol=0, atol=TOL)


def test_to_dlcore_folds_batch_norm(torch):
    torch.manual_seed(0)
    net = torch_models.fashion_cnn(c1=4, c2=6, hidden=8).double()
    for m in net.modules():  # non-trivial running statistics and affine parameters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 2)  # positive: a BN behind a max-pool folds only then
            m.bias.data.uniform_(-1, 1)
    net.eval()
    x = np.random.default_rng(2).random((3, 1, 28, 28))
    model = torch_models.to_dlcore(net)
    assert [type(layer).__name__ for layer in model.layers][:4] == ["Conv2D", "MaxPool2D", "ReLU", "Conv2D"]
    np.testing.assert_allclose(model.forward(x), cnnviz.model_outputs(net, x), rtol=0, atol=1e-9)
    # after the activation the maps agree (the folded conv output includes the batch norm)
    a = cnnviz.feature_maps(net, x[0])
    b = cnnviz.feature_maps(model, x[0])
    for m1, m2 in zip(a.values(), b.values(), strict=True):
        np.testing.assert_allclose(m1, m2, rtol=0, atol=1e-9)
    np.testing.assert_allclose(cnnviz.saliency(net, x), cnnviz.saliency(model, x), rtol=0, atol=1e-9)


def test_to_dlcore_folds_batch_norm_across_a_pool_only_when_positive(torch):
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(2), nn.ReLU(),
                        nn.Flatten(), nn.Linear(2 * 5 * 5, 3)).double().eval()
    net[2].running_mean.fill_(0.3)
    x = np.random.default_rng(3).random((2, 1, 12, 12))
    np.testing.assert_allclose(torch_models.to_dlcore(net).forward(x), cnnviz.model_outputs(net, x),
                               rtol=0, atol=1e-10)
    with torch.no_grad():
        net[2].weight[1] = -1.0
    with pytest.raises(ValueError, match="non-positive scale"):
        torch_models.to_dlcore(net)
    with pytest.raises(ValueError, match="no dlcore equivalent for Softmax"):
        torch_models.to_dlcore(nn.Sequential(nn.Softmax(dim=1)))


def test_fashion_cnn_shapes_and_checkpoint(torch, tmp_path):
    torch.manual_seed(0)
    net = torch_models.fashion_cnn()
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert [name for name, _ in cnnviz.conv_layers(net)] == ["features.0.0", "features.1.0"]
    assert list(net.state_dict())[:3] == ["features.0.0.weight", "features.0.2.weight", "features.0.2.bias"]
    path = tmp_path / "fashion_cnn.pt"
    torch.save(net.state_dict(), path)
    loaded = torch_models.load_fashion_cnn(path)
    assert not loaded.training
    for (k1, v1), (k2, v2) in zip(net.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k1 == k2 and torch.equal(v1, v2)
    with pytest.raises(FileNotFoundError, match="run chapter 5 first"):
        torch_models.load_fashion_cnn(tmp_path / "missing.pt")
    small = torch_models.small_fashion_cnn(seed=1)
    assert small(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    again = torch_models.small_fashion_cnn(seed=1)
    assert torch.equal(small[0].weight, again[0].weight)
