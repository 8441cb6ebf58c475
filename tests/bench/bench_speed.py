"""How fast is dlcore next to PyTorch on this machine? Run: ``python tests/bench/bench_speed.py``.

Both libraries get the same cores (torch.set_num_threads(2), numpy's BLAS uses its default).
Each case runs dlcore and PyTorch alternately, ``--repeats`` rounds, and reports the best time of
each (the least disturbed by other processes) and the ratio dlcore / PyTorch.

1. MLP 784-256-128-10 (ReLU), SGD lr 0.1, batch 128, float32: one epoch over 60,000 samples
   (Fashion-MNIST when dlcore.data can load it, else random data). dlcore runs ``fit``; PyTorch runs
   the idiomatic loop (nn.Sequential, CrossEntropyLoss, optim.SGD over a shuffling DataLoader), and
   also a faster hand-written loop that indexes shuffled tensors directly (no DataLoader). All
   three also track the epoch's loss and accuracy.
2. Conv2D 16->32, 3x3, padding 1, N=64, 28x28, float32: forward + backward (weights and input grads).
3. MaxPool2D 2x2 on the conv's output, forward + backward (for information, no target).
"""

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

import dlcore  # noqa: E402
from dlcore import MLP, SGD, Conv2D, MaxPool2D, SoftmaxCrossEntropy, fit  # noqa: E402

N_THREADS = 2


def load_mnist_like() -> tuple[np.ndarray, np.ndarray, str]:
    """(X (60000, 784) float32, y (60000,) int64, description)."""
    try:
        X, y, _, _ = dlcore.data.load_fashion_mnist()
        return X.reshape(len(X), -1), y, "Fashion-MNIST"
    except Exception as err:  # no loader or no data: random numbers of the same shape are as good for timing
        rng = np.random.default_rng(0)
        return rng.random((60000, 784), dtype=np.float32), rng.integers(0, 10, 60000), f"random ({err!r:.60})"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def best_times(fns: dict, rounds: int, inner: int = 1) -> dict[str, float]:
    """Each round runs every function ``inner`` times in a row (so each library finds its own data
    in the cache, as it would inside a network), library after library; keep each one's best time."""
    best = {name: float("inf") for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(inner):
                t = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - t)
    return best


def bench_mlp(torch, repeats: int) -> dict[str, float]:
    X, y, source = load_mnist_like()
    print(f"MLP data: {source}")

    def dlcore_epoch():
        model = MLP([784, 256, 128, 10], activation="relu", output=None, dtype=np.float32, seed=0)
        fit(model, SoftmaxCrossEntropy(), SGD(model, lr=0.1), X, y, epochs=1, batch_size=128)

    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def torch_model():
        nn = torch.nn
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
        return model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1)

    def torch_train(batches):  # what fit does per batch, including the running loss and accuracy
        model, loss_fn, opt = torch_model()
        total, correct = 0.0, 0
        for xb, yb in batches:
            out = model(xb)
            loss = loss_fn(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
            correct += (out.argmax(1) == yb).sum().item()

    def torch_epoch():  # batches by indexing shuffled tensors directly
        perm = torch.randperm(len(Xt))
        torch_train((Xt[idx], yt[idx]) for idx in perm.split(128))

    def torch_dataloader_epoch():  # the textbook loop: DataLoader over a TensorDataset
        torch_train(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(Xt, yt), batch_size=128,
                                                shuffle=True))

    return best_times({"dlcore": dlcore_epoch, "torch": torch_epoch, "torch_dataloader": torch_dataloader_epoch},
                      repeats)


def bench_conv(torch, repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 16, 28, 28), dtype=np.float32)
    dy = rng.standard_normal((64, 32, 28, 28), dtype=np.float32)
    dy_pool = rng.standard_normal((64, 32, 14, 14), dtype=np.float32)
    conv, pool = Conv2D(16, 32, 3, padding=1, seed=0, dtype=np.float32), MaxPool2D(2)

    def dlcore_conv():
        conv.forward(x)
        conv.backward(dy)

    def dlcore_pool():
        pool.forward(dy)
        pool.backward(dy_pool)

    tconv = torch.nn.Conv2d(16, 32, 3, padding=1)
    xt = torch.from_numpy(x).requires_grad_(True)  # a hidden layer: its input gradient is needed too
    dyt, dyt_pool, yt = torch.from_numpy(dy), torch.from_numpy(dy_pool), torch.from_numpy(dy).requires_grad_(True)

    def torch_conv():
        tconv.zero_grad()
        xt.grad = None
        tconv(xt).backward(dyt)

    def torch_pool():
        yt.grad = None
        torch.nn.functional.max_pool2d(yt, 2).backward(dyt_pool)

    for fn in (dlcore_conv, torch_conv, dlcore_pool, torch_pool):  # warm up
        fn()
    conv_t = best_times({"dlcore": dlcore_conv, "torch": torch_conv}, repeats, inner=10)
    pool_t = best_times({"dlcore": dlcore_pool, "torch": torch_pool}, repeats, inner=10)
    return conv_t, pool_t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per case (the best one counts)")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a target is missed")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(N_THREADS)
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs; "
          f"numpy {np.__version__}, torch {torch.__version__} ({N_THREADS} threads)")

    mlp = bench_mlp(torch, args.repeats)
    conv, pool = bench_conv(torch, args.repeats)
    vs_dataloader = {"dlcore": mlp["dlcore"], "torch": mlp["torch_dataloader"]}
    rows = [("MLP epoch vs torch DataLoader loop", vs_dataloader, 0.8),
            ("MLP epoch vs torch hand-indexed loop", mlp, None),
            ("Conv2D 16->32 3x3 fwd+bwd (N=64, 28x28)", conv, 2.0),
            ("MaxPool2D 2x2 fwd+bwd (N=64, C=32, 28x28)", pool, None)]

    print(f"\n{'case':<44}{'dlcore':>11}{'PyTorch':>11}{'ratio':>8}{'target':>9}")
    ok = True
    for name, t, target in rows:
        ratio = t["dlcore"] / t["torch"]
        mark = "" if target is None else (" ok" if ratio <= target else " SLOW")
        ok &= target is None or ratio <= target
        target_s = "-" if target is None else f"<={target}"
        print(f"{name:<44}{t['dlcore'] * 1e3:>9.1f}ms{t['torch'] * 1e3:>9.1f}ms{ratio:>7.2f}x{target_s:>9}{mark}")
    print("\nall targets met" if ok else "\nsome targets missed (see tests/bench/README.md)")
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
