"""dlcore.torch_ssl (chapter 10, SimCLR): augment_views (shapes, range, determinism, each step), ntxent_torch
equal to dlcore.NTXent in float64, the encoder and projection head, extract_features, knn_accuracy by hand,
linear_probe on a separable toy set, pca vs numpy's SVD and the covariance's eigenvalues, clear errors.
knn_accuracy and pca are numpy only: their tests run without torch."""

import math

import numpy as np
import pytest

from dlcore import NTXent, torch_ssl
from dlcore.gradcheck import rel_error


def fake_images(torch, N=8, H=28, W=28, seed=0):
    """Bright blobs on a black background, values in [0, 1], like Fashion-MNIST."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(N, 1, H, W, generator=g)
    x[:, :, : H // 4] = 0
    x[:, :, :, : W // 5] = 0
    return x


def plain(**kwargs):
    """augment_views' settings with every step off, then switched on one at a time."""
    settings = {"crop_scale": (1.0, 1.0), "ratio": (1.0, 1.0), "flip": False, "jitter": 0.0, "erase_p": 0.0}
    return settings | kwargs


# ----------------------------------------------------------------------------- augment_views


def test_augment_views_shape_range_and_determinism(torch):
    x = fake_images(torch, N=16)
    a = torch_ssl.augment_views(x, torch.Generator().manual_seed(3))
    b = torch_ssl.augment_views(x, torch.Generator().manual_seed(3))
    c = torch_ssl.augment_views(x, torch.Generator().manual_seed(4))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    changed = (a - x).abs().flatten(1).amax(1) > 0.01
    assert changed.all()  # every image is altered
    g = torch.Generator().manual_seed(3)
    first, second = torch_ssl.augment_views(x, g), torch_ssl.augment_views(x, g)
    assert not torch.equal(first, second)  # two calls with one generator: SimCLR's two different views


def test_augment_views_with_every_step_off_is_the_identity(torch):
    x = fake_images(torch, N=4)
    out = torch_ssl.augment_views(x, torch.Generator().manual_seed(0), **plain())
    torch.testing.assert_close(out, x, rtol=0, atol=1e-5)  # float32 rounding in grid_sample


def test_augment_views_flip_mirrors_about_half(torch):
    x = fake_images(torch, N=64)
    out = torch_ssl.augment_views(x, torch.Generator().manual_seed(0), **plain(flip=True))
    mirrored = (out - x.flip(3)).abs().flatten(1).amax(1) < 1e-5
    same = (out - x).abs().flatten(1).amax(1) < 1e-5
    assert (mirrored ^ same).all()
    assert 20 < int(mirrored.sum()) < 44


def test_augment_views_crop_zooms_in(torch):
    """A crop of a quarter of the area, stretched back: a centred square twice as big (up to the shift)."""
    x = torch.zeros(32, 1, 28, 28)
    x[:, :, 12:16, 12:16] = 1  # a 4 x 4 square in the middle
    out = torch_ssl.augment_views(x, torch.Generator().manual_seed(0), **plain(crop_scale=(0.25, 0.25)))
    mass = out.sum((1, 2, 3))
    # the square is 2x larger in each direction when it is inside the crop (4 x its area), less when cut
    assert (mass <= 4 * 16 + 1e-3).all() and (mass > 40).float().mean() > 0.3


def test_augment_views_jitter_and_erasing(torch):
    x = fake_images(torch, N=64)
    jit = torch_ssl.augment_views(x, torch.Generator().manual_seed(0), **plain(jitter=0.4))
    assert jit.min() >= 0 and jit.max() <= 1
    assert not torch.allclose(jit, x)
    # as documented: u = torch.rand(N, 12), brightness b from column 5, contrast c from column 6
    u = torch.rand(64, 12, generator=torch.Generator().manual_seed(0))
    b, c = (1 + 0.4 * (2 * u[:, 5:7] - 1)).T.reshape(2, 64, 1, 1, 1)
    bright = (x * b).clamp(0, 1)
    m = bright.mean((1, 2, 3), keepdim=True)
    torch.testing.assert_close(jit, ((bright - m) * c + m).clamp(0, 1), rtol=0, atol=1e-5)
    none = torch_ssl.augment_views(x, torch.Generator().manual_seed(0), **plain())
    erased = torch_ssl.augment_views(x, torch.Generator().manual_seed(0), **plain(erase_p=1.0))
    changed = erased != none
    assert (erased[changed] == 0).all()                            # erasing only sets pixels to 0
    assert changed.flatten(1).any(1).float().mean() > 0.8          # (almost) every image lost a rectangle
    assert changed.flatten(1).sum(1).max() <= 0.33 * 28 * 28 + 28  # at most about a third of the image
    rows, cols = changed[0, 0].nonzero(as_tuple=True)              # one rectangle: its bounding box is all 0
    assert (erased[0, 0, rows.min():rows.max() + 1, cols.min():cols.max() + 1] == 0).all()
    half = torch_ssl.augment_views(x, torch.Generator().manual_seed(0), **plain(erase_p=0.5))
    assert 16 < int((half != none).flatten(1).any(1).sum()) < 48

def test_augment_views_errors(torch):
    x = fake_images(torch, N=2)
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match=r"expects images of shape \(N, C, H, W\), got \(2, 28, 28\)"):
        torch_ssl.augment_views(x[:, 0], g)
    with pytest.raises(ValueError, match=r"values in \[0, 1\], got values in \[-1, .*augment before standardising"):
        torch_ssl.augment_views(2 * x - 1, g)
    with pytest.raises(TypeError, match="floating-point torch tensor, got ndarray"):
        torch_ssl.augment_views(x.numpy(), g)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        torch_ssl.augment_views(x, 0)
    with pytest.raises(ValueError, match=r"crop_scale must be a pair \(a, b\) with 0 < a <= b <= 1"):
        torch_ssl.augment_views(x, g, crop_scale=(0.5, 1.5))
    with pytest.raises(ValueError, match=r"crop_scale must be a pair"):
        torch_ssl.augment_views(x, g, crop_scale=(0.0, 1.0))
    with pytest.raises(TypeError, match=r"crop_scale must be a pair \(low, high\), got 0.5"):
        torch_ssl.augment_views(x, g, crop_scale=0.5)
    with pytest.raises(ValueError, match=r"jitter must be a finite number in \[0, 1\]"):
        torch_ssl.augment_views(x, g, jitter=1.5)
    with pytest.raises(ValueError, match=r"erase_p must be a finite number in \[0, 1\]"):
        torch_ssl.augment_views(x, g, erase_p=float("nan"))
    assert torch_ssl.augment_views(x[:0], g).shape == (0, 1, 28, 28)


# ----------------------------------------------------------------------------- the loss and the networks


@pytest.mark.parametrize(("N", "d", "temperature"), [(2, 3, 0.5), (7, 5, 0.1), (16, 32, 1.0)])
def test_ntxent_torch_equals_dlcore(torch, N, d, temperature):
    rng = np.random.default_rng(N)
    z1, z2 = rng.standard_normal((2, N, d))
    t1, t2 = torch.tensor(z1, requires_grad=True), torch.tensor(z2, requires_grad=True)
    value = torch_ssl.ntxent_torch(t1, t2, temperature)
    value.backward()
    loss = NTXent(temperature)
    assert abs(value.item() - loss(z1, z2)) <= 1e-7 * value.item()
    dz1, dz2 = loss.backward()
    assert rel_error(dz1, t1.grad.numpy()) < 1e-7
    assert rel_error(dz2, t2.grad.numpy()) < 1e-7


def test_ntxent_torch_errors(torch):
    z = torch.ones(3, 4)
    with pytest.raises(ValueError, match=r"two views of shape \(N, d\), got \(3, 4\) and \(2, 4\)"):
        torch_ssl.ntxent_torch(z, z[:2])
    with pytest.raises(ValueError, match="N >= 2 pairs of views"):
        torch_ssl.ntxent_torch(z[:1], z[:1])
    with pytest.raises(ValueError, match=r"temperature must be a finite number in \(0, inf\)"):
        torch_ssl.ntxent_torch(z, z, 0.0)


def test_encoder_and_projection_head_shapes(torch):
    torch.manual_seed(0)
    f = torch_ssl.encoder()
    g = torch_ssl.projection_head()
    x = fake_images(torch, N=4)
    h = f(x)
    assert h.shape == (4, 128)
    assert g(h).shape == (4, 64)
    convs = [m for m in f if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128]
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in f) == 2
    assert torch_ssl.encoder(width=8, feature_dim=16)(x).shape == (4, 16)
    assert torch_ssl.encoder(in_channels=3)(torch.rand(2, 3, 32, 32)).shape == (2, 128)
    assert torch_ssl.projection_head(16, 32, 8)(torch.rand(5, 16)).shape == (5, 8)
    with pytest.raises(ValueError, match="encoder width must be a positive integer"):
        torch_ssl.encoder(width=0)
    with pytest.raises(TypeError, match="projection_head out_dim must be a positive integer"):
        torch_ssl.projection_head(out_dim=2.5)


def test_extract_features_eval_mode_no_grad_numpy(torch):
    torch.manual_seed(0)
    f = torch_ssl.encoder(width=4, feature_dim=8)
    x = fake_images(torch, N=10)
    f.train()
    feats = torch_ssl.extract_features(f, x, batch_size=3)  # batches of 3, 3, 3, 1: eval-mode batch norm
    assert isinstance(feats, np.ndarray) and feats.shape == (10, 8) and feats.dtype == np.float32
    assert f.training  # mode restored
    f.eval()
    with torch.no_grad():
        np.testing.assert_allclose(feats, f(x).numpy(), rtol=1e-5, atol=1e-6)
    assert not f.training
    np.testing.assert_allclose(torch_ssl.extract_features(f, x.numpy()), feats, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="at least one sample"):
        torch_ssl.extract_features(f, x[:0])


# ----------------------------------------------------------------------------- evaluation (numpy)


def test_knn_accuracy_by_hand():
    """Training points on the unit circle's axes; only the direction matters (cosine)."""
    train = np.array([[1, 0], [2, 0.1], [5, -0.2], [0, 1], [0.1, 3], [-1, 0]], dtype=float)
    labels = np.array([0, 0, 0, 1, 1, 2])
    test = np.array([[3, 0.05], [0.2, 1], [-4, 0.1], [1, 1.1]])
    # k = 1: nearest directions are classes 0, 1, 2, and for (1, 1.1) the point (0.1, 3)'s class 1
    assert torch_ssl.knn_accuracy(train, labels, test, np.array([0, 1, 2, 1]), k=1) == 1.0
    # k = 3: (-4, 0.1) sees (-1, 0) [2] then (0, 1), (0.1, 3) [1, 1]: the majority says 1
    assert torch_ssl.knn_accuracy(train, labels, test, np.array([0, 1, 2, 1]), k=3) == 0.75
    assert torch_ssl.knn_accuracy(train, labels, test, np.array([0, 1, 1, 1]), k=3) == 1.0
    # weighted by exp(s / 0.01), the single very close (-1, 0) outvotes the two far class-1 neighbours
    assert torch_ssl.knn_accuracy(train, labels, test, np.array([0, 1, 2, 1]), k=3, temperature=0.01) == 1.0
    # a tie, 1 vote each with k = 2: the more similar neighbour's class wins (class 2, cosine 1 vs 0)
    assert torch_ssl.knn_accuracy(train, labels, np.array([[-1.0, 0.0]]), np.array([2]), k=2) == 1.0
    # the scale of the rows does not matter; batch_size does not change the answer
    acc = torch_ssl.knn_accuracy(train * 7, labels, test * 0.1, np.array([0, 1, 2, 1]), k=3, batch_size=1)
    assert acc == 0.75


def test_knn_accuracy_on_clusters():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((4, 16)) * 3
    y, y_test = rng.integers(0, 4, 400), rng.integers(0, 4, 100)
    X = centres[y] + rng.standard_normal((400, 16))
    X_test = centres[y_test] + rng.standard_normal((100, 16))
    assert torch_ssl.knn_accuracy(X.astype(np.float32), y, X_test.astype(np.float32), y_test, k=20) > 0.95
    noise = rng.standard_normal((100, 16))
    assert torch_ssl.knn_accuracy(X, y, noise, y_test, k=20, temperature=0.07) < 0.5


def test_knn_accuracy_errors():
    X, y = np.eye(3), np.array([0, 1, 2])
    with pytest.raises(ValueError, match="k=4 is more than the 3 training samples"):
        torch_ssl.knn_accuracy(X, y, X, y, k=4)
    with pytest.raises(ValueError, match="train features have 3 dimensions, test features 2"):
        torch_ssl.knn_accuracy(X, y, X[:, :2], y)
    with pytest.raises(TypeError, match="knn_accuracy test labels must be integers"):
        torch_ssl.knn_accuracy(X, y, X, y.astype(float), k=1)
    with pytest.raises(ValueError, match=r"knn_accuracy train: 3 feature rows but labels of shape \(2,\)"):
        torch_ssl.knn_accuracy(X, y[:2], X, y, k=1)
    zero = X.copy()
    zero[1] = 0
    with pytest.raises(ValueError, match="knn_accuracy test feature row 1 is all zeros"):
        torch_ssl.knn_accuracy(X, y, zero, y, k=1)
    with pytest.raises(ValueError, match="knn_accuracy train features contains NaN"):
        torch_ssl.knn_accuracy(np.full((3, 3), np.nan), y, X, y, k=1)
    with pytest.raises(ValueError, match="knn_accuracy test needs at least one sample"):
        torch_ssl.knn_accuracy(X, y, X[:0], y[:0], k=1)


def test_linear_probe_separates_a_linearly_separable_set(torch):
    """Three classes separated by the sign pattern of two informative dimensions, among noisy ones with
    wildly different scales (the standardisation takes care of them); deterministic."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 6)) * np.array([1, 1, 100, 0.01, 5, 1])
    y = np.where(X[:, 0] > 0.3, 0, np.where(X[:, 1] > 0, 1, 2))
    X_test = rng.standard_normal((300, 6)) * np.array([1, 1, 100, 0.01, 5, 1])
    y_test = np.where(X_test[:, 0] > 0.3, 0, np.where(X_test[:, 1] > 0, 1, 2))
    acc = torch_ssl.linear_probe(X, y, X_test, y_test, epochs=100)
    assert acc > 0.97
    assert torch_ssl.linear_probe(X, y, X_test, y_test, epochs=100) == acc
    constant = np.hstack([X, np.ones((600, 1))])  # a feature that never varies: only centred, no 0/0
    assert torch_ssl.linear_probe(constant, y, np.hstack([X_test, np.ones((300, 1))]), y_test) > 0.97
    chance = torch_ssl.linear_probe(X[:, 2:], y, X_test[:, 2:], y_test, epochs=50)  # noise dims only
    assert chance < 0.6
    with pytest.raises(ValueError, match="linear_probe weight_decay must be a finite number"):
        torch_ssl.linear_probe(X, y, X_test, y_test, weight_decay=-1)
    with pytest.raises(ValueError, match="linear_probe: train features have 6 dimensions, test features 5"):
        torch_ssl.linear_probe(X, y, X_test[:, :5], y_test)


def test_pca_against_svd_and_covariance():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 6)) @ rng.standard_normal((6, 6)) + 10  # correlated, off-centre
    Z, ratio, components, mean = torch_ssl.pca(X, 3, return_components=True)
    assert Z.shape == (200, 3) and ratio.shape == (3,) and components.shape == (3, 6)
    np.testing.assert_allclose(components @ components.T, np.eye(3), atol=1e-12)  # orthonormal
    np.testing.assert_allclose(mean, X.mean(0))
    np.testing.assert_allclose(Z, (X - mean) @ components.T, atol=1e-10)
    assert np.all(np.diff(ratio) <= 0) and 0 < ratio.sum() <= 1
    # the variances along the components are the covariance's largest eigenvalues
    eigenvalues = np.linalg.eigvalsh(np.cov(X.T, bias=True))[::-1]
    np.testing.assert_allclose(Z.var(0), eigenvalues[:3], rtol=1e-10)
    np.testing.assert_allclose(ratio, eigenvalues[:3] / eigenvalues.sum(), rtol=1e-10)
    # numpy's SVD of the centred data, up to the sign of each column
    U, s, _ = np.linalg.svd(X - X.mean(0), full_matrices=False)
    np.testing.assert_allclose(np.abs(Z), np.abs(U[:, :3] * s[:3]), atol=1e-10)
    # sign convention: each component's largest entry is positive
    assert np.all(components[np.arange(3), np.abs(components).argmax(1)] > 0)
    # all components: the variance is all explained and the data rebuilt exactly
    Z6, ratio6, C6, m6 = torch_ssl.pca(X, 6, return_components=True)
    assert ratio6.sum() == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(Z6 @ C6 + m6, X, atol=1e-10)
    z2, r2 = torch_ssl.pca(X.astype(np.float32), 2)
    assert z2.dtype == r2.dtype == np.float32
    np.testing.assert_allclose(r2, ratio[:2], rtol=1e-4)


def test_pca_finds_a_planted_direction():
    rng = np.random.default_rng(1)
    direction = np.array([3.0, 4.0, 0.0]) / 5
    X = rng.standard_normal((500, 1)) * 10 * direction + rng.standard_normal((500, 3)) * 0.1
    _, ratio, components, _ = torch_ssl.pca(X, 1, return_components=True)
    assert abs(components[0] @ direction) > 0.999
    assert ratio[0] > 0.99


def test_pca_errors():
    X = np.ones((5, 3))
    with pytest.raises(ValueError, match="pca: all rows of X are equal"):
        torch_ssl.pca(X, 1)
    with pytest.raises(ValueError, match=r"k=4 components from 5 samples of 3 dimensions \(at most 3\)"):
        torch_ssl.pca(np.eye(5)[:, :3], 4)
    with pytest.raises(ValueError, match=r"pca expects data of shape \(N, D\), got \(5,\)"):
        torch_ssl.pca(np.ones(5), 1)
    with pytest.raises(TypeError, match="pca k must be a positive integer"):
        torch_ssl.pca(np.eye(3), 1.0)


# ----------------------------------------------------------------------------- training loops


def test_pretrain_lowers_ntxent_and_is_deterministic(torch):
    """A few SimCLR steps on blobs lower the loss from about ln(2N - 1); the same seeds give the same run."""
    x = fake_images(torch, N=64)

    def run():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch_ssl.encoder(width=4, feature_dim=16),
                                    torch_ssl.projection_head(16, 16, 8))
        return model, torch_ssl.pretrain(model, x, steps=30, batch_size=16, lr=1e-2)

    model, history = run()
    _, again = run()
    assert len(history["loss"]) == 30 and history["seconds"] > 0
    assert history["loss"][0] == pytest.approx(math.log(31), abs=0.4)
    assert np.mean(history["loss"][-5:]) < history["loss"][0] - 0.15
    assert history["loss"] == again["loss"]
    assert not model.training


def test_pretrain_takes_any_loss_of_the_two_views(torch):
    """The positives-only loss of the chapter's collapse demo: it drives the cosine towards 1."""
    x = fake_images(torch, N=32)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch_ssl.encoder(width=4, feature_dim=8), torch_ssl.projection_head(8, 8, 4))
    seen = []

    def alignment(z1, z2):
        seen.append((z1.shape, z1.dtype))
        return -torch.nn.functional.cosine_similarity(z1, z2).mean()

    history = torch_ssl.pretrain(model, x, steps=20, batch_size=8, loss=alignment, lr=1e-2)
    assert seen[0] == (torch.Size([8, 4]), torch.float32)
    assert history["loss"][-1] < history["loss"][0] and history["loss"][-1] >= -1 - 1e-6


def test_rotations_turn_each_image_four_ways(torch):
    x = fake_images(torch, N=3)
    images, labels = torch_ssl.rotations(x)
    assert images.shape == (12, 1, 28, 28)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert torch.equal(images[:3], x)
    assert torch.equal(images[3:6], x.transpose(2, 3).flip(2))   # 90 degrees anticlockwise
    assert torch.equal(images[6:9], x.flip(2).flip(3))           # 180 degrees
    with pytest.raises(ValueError, match="square"):
        torch_ssl.rotations(torch.zeros(2, 1, 28, 20))


def test_train_classifier_learns_labels_and_a_pretext_task(torch):
    """Bright left half vs bright right half: learned from labels; and rotations learned from no labels."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 12, 12, generator=g) * 0.2
    y = torch.arange(64) % 2
    x[y == 0, :, :, :6] += 0.8
    x[y == 1, :, :, 6:] += 0.8
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch_ssl.encoder(width=4, feature_dim=8), torch.nn.Linear(8, 2))
    history = torch_ssl.train_classifier(net, x, y, steps=40, batch_size=16, lr=1e-2)
    assert len(history["loss"]) == 40 and not net.training
    with torch.no_grad():
        assert (net(x).argmax(1) == y).float().mean() > 0.95
    torch.manual_seed(0)
    rot = torch.nn.Sequential(torch_ssl.encoder(width=4, feature_dim=8), torch.nn.Linear(8, 4))
    h = torch_ssl.train_classifier(rot, x, None, steps=40, batch_size=8, lr=1e-2, pretext=torch_ssl.rotations)
    assert np.mean(h["loss"][-5:]) < math.log(4) - 0.5


def test_training_loops_name_bad_input(torch):
    x = fake_images(torch, N=8)
    net = torch.nn.Sequential(torch_ssl.encoder(width=4, feature_dim=8), torch.nn.Linear(8, 2))
    with pytest.raises(ValueError, match="exactly one"):
        torch_ssl.train_classifier(net, x, None, steps=2)
    with pytest.raises(ValueError, match="exactly one"):
        torch_ssl.train_classifier(net, x, torch.zeros(8), steps=2, pretext=torch_ssl.rotations)
    with pytest.raises(ValueError, match="labels of shape"):
        torch_ssl.train_classifier(net, x, torch.zeros(7, dtype=torch.long), steps=2)
    with pytest.raises(ValueError, match="steps"):
        torch_ssl.pretrain(net, x, steps=0)
    with pytest.raises(ValueError, match="temperature"):
        torch_ssl.pretrain(net, x, steps=1, temperature=0)
    with pytest.raises(FloatingPointError, match="loss became nan at step 1: training diverged"):
        torch_ssl.pretrain(net, x, steps=1, batch_size=4, loss=lambda z1, z2: z1.sum() * float("nan"))
    with torch.no_grad():
        net[-1].weight.fill_(float("inf"))
    with pytest.raises(FloatingPointError, match="at step 1: training diverged"):
        torch_ssl.train_classifier(net, x, torch.zeros(8, dtype=torch.long), steps=2, batch_size=4)


def test_importing_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, dlcore.torch_ssl; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert math.isfinite(torch_ssl.ERASE_AREA[1])


def test_linear_probe_is_float32_inside_autocast(torch):
    # features are often extracted under bfloat16 autocast; a probe fitted in the same block must
    # not silently run its L-BFGS in bfloat16 (it ends near chance) but give the float32 answer
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((10, 64)).astype(np.float32)
    y = rng.integers(0, 10, 600)
    X = centres[y] + 1.5 * rng.standard_normal((600, 64)).astype(np.float32)
    plain = torch_ssl.linear_probe(X[:400], y[:400], X[400:], y[400:], weight_decay=1e-2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = torch_ssl.linear_probe(X[:400], y[:400], X[400:], y[400:], weight_decay=1e-2)
    assert plain > 0.5 and inside == plain
