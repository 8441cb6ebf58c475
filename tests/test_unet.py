"""Chapter 8's U-Net (dlcore.torch_models.unet): output shapes, parameter counts with and without skips,
that without skips nothing reaches the decoder except through the bottleneck, and bad input."""

import pytest

from dlcore import torch_models
from dlcore.torch_train import count_parameters


@pytest.mark.parametrize(("skips", "batch_norm"), [(True, True), (False, True), (True, False), (False, False)])
def test_output_has_the_input_size(torch, skips, batch_norm):
    torch.manual_seed(0)
    model = torch_models.unet(skips=skips, batch_norm=batch_norm).eval()
    with torch.no_grad():
        assert model(torch.zeros(3, 1, 64, 64)).shape == (3, 11, 64, 64)
    assert any("running_mean" in name for name in model.state_dict()) == batch_norm


@pytest.mark.parametrize(("levels", "c_in", "n_classes", "size"), [(1, 1, 2, (6, 10)), (2, 3, 5, (32, 64)), (4, 1, 11, (16, 48))])
def test_other_depths_channels_and_sizes(torch, levels, c_in, n_classes, size):
    model = torch_models.unet(n_classes=n_classes, width=4, levels=levels, c_in=c_in).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, c_in, *size)).shape == (2, n_classes, *size)


def test_parameter_counts_with_and_without_skips(torch):
    with_skips, without = (count_parameters(torch_models.unet(skips=s)) for s in (True, False))
    print(f"unet(width=16, levels=3): {with_skips:,} parameters with skips, {without:,} without")
    assert (with_skips, without) == (482_619, 525_739)
    assert abs(without / with_skips - 1) < 0.10
    for levels in (1, 2, 4):
        a, b = (count_parameters(torch_models.unet(width=8, levels=levels, skips=s)) for s in (True, False))
        assert abs(b / a - 1) < 0.10, (levels, a, b)


def test_skips_change_only_the_up_sampling_convolutions(torch):
    """Same names; the same shapes everywhere except the ConvTranspose2d's output channels (c[i] vs 2 c[i])."""
    a, b = (torch_models.unet(skips=s).state_dict() for s in (True, False))
    assert list(a) == list(b)
    differ = {name for name in a if a[name].shape != b[name].shape}
    assert differ == {f"up.{i}.{p}" for i in range(3) for p in ("weight", "bias")}
    for i, c in enumerate((16, 32, 64)):
        assert a[f"up.{i}.weight"].shape == (2 * c, c, 2, 2) and b[f"up.{i}.weight"].shape == (2 * c, 2 * c, 2, 2)
        assert a[f"decode.{i}.0.weight"].shape == (c, 2 * c, 3, 3)  # the decoder reads 2 c[i] channels either way


@pytest.mark.parametrize("skips", [True, False])
def test_without_skips_only_the_bottleneck_reaches_the_decoder(torch, skips):
    """Cut the bottleneck (it outputs zeros): without skips the output no longer depends on the input at all
    (same output for different inputs, zero gradient); with skips the encoder's features still get through."""
    torch.manual_seed(0)
    model = torch_models.unet(width=4, skips=skips).eval()

    class Cut(torch.nn.Module):
        def forward(self, x):
            return torch.zeros(x.shape[0], 32, *x.shape[2:])  # the bottleneck's 4 * 2**3 channels

    model.bottleneck = Cut()
    x = torch.randn(2, 1, 32, 32, requires_grad=True)
    out = model(x)
    out.square().sum().backward()
    with torch.no_grad():
        other = model(torch.randn(2, 1, 32, 32))
    if skips:
        assert x.grad.abs().sum() > 0 and not torch.equal(out.detach(), other)
    else:
        assert (x.grad is None or not x.grad.any()) and torch.equal(out.detach(), other)  # None: no path at all


@pytest.mark.parametrize("size", [(60, 64), (64, 36), (4, 4)])
def test_input_not_divisible_by_2_to_the_levels(torch, size):
    model = torch_models.unet()
    with pytest.raises(ValueError, match=rf"unet: input {size[0]}x{size[1]} is not divisible by 2\*\*levels = 8"):
        model(torch.zeros(1, 1, *size))


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"levels": 0}, ValueError, "unet levels must be a positive integer"),
    ({"width": 2.5}, TypeError, "unet width must be a positive integer"),
    ({"n_classes": 0}, ValueError, "unet n_classes"),
])
def test_bad_arguments(torch, kwargs, error, match):
    with pytest.raises(error, match=match):
        torch_models.unet(**kwargs)
