"""Chapter 10's hyperparameters, chosen on validation images: SimCLR's temperature, and the supervised
baseline's steps and learning rate at each label budget.

Run from the repository root (about 28 minutes on 2 CPU cores, all three parts):

    .venv/bin/python chapters/runs/ch10_tuning.py                    # -> chapters/runs/ch10_tuning.json
    .venv/bin/python chapters/runs/ch10_tuning.py --parts supervised  # one part, merged into the same file

The split is the chapter's: 60,000 training images permuted with ``np.random.default_rng(0)``, the first
5,000 for validation, the other 55,000 for training (their labels used only for the labelled budgets); the
label budgets are the chapter's class-balanced subsets. **Only validation accuracies are computed; the test
images are not loaded.** The chapter reads this file, prints its tables and uses the settings it chose.

* ``temperature``: SimCLR exactly as in the chapter (1,300 steps of 256 images, AdamW peak lr 4e-3, weights
  seeded with 1), once per temperature; each encoder is scored by linear probes on its frozen features with
  1 % and 10 % of the labels (weight decay chosen on validation, as in the chapter). The chapter uses the
  temperature with the best 1 % probe.
* ``longer``: the chosen temperature, trained four times as long (about 11 minutes), scored the same way:
  what more pretraining buys.
* ``supervised``: the same network trained from scratch on each budget's labelled images, with random shifts
  and flips (``dlcore.torch_ssl.train_classifier``, weights seeded with 3), for each step count and peak
  learning rate of the grid; the chapter uses the best on validation. The grids hold what the chapter can
  afford to rerun within its time limit (step counts of at most about 30 s each here).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

OUT = Path(__file__).with_suffix(".json")
SSL_STEPS, BATCH, LR = 1300, 256, 4e-3
TEMPERATURES = (0.07, 0.1, 0.15, 0.2, 0.3)
LONGER = 4  # the ``longer`` part: the chosen temperature, four times the steps
WEIGHT_DECAYS = (1e-3, 1e-2, 1e-1)
SUPERVISED_GRID = {"0.01": ((300, 600), (2e-3, 4e-3)),   # budget: (step counts, peak learning rates)
                   "0.1": ((500, 1000), (2e-3, 4e-3)),
                   "1.0": ((800,), (2e-3, 4e-3))}


def split():
    """The chapter's split and label budgets: (X_train, y_train, X_val, y_val, {budget: indices})."""
    import numpy as np

    from dlcore.data import balanced_subset, load_fashion_mnist

    X_all, y_all, _, _ = load_fashion_mnist()
    perm = np.random.default_rng(0).permutation(len(y_all))
    X_val, y_val = X_all[perm[:5000]], y_all[perm[:5000]]
    X_train, y_train = X_all[perm[5000:]], y_all[perm[5000:]]
    labelled = {f: balanced_subset(np.arange(len(y_train)), y_train, round(float(f) * len(y_train)))[0]
                if float(f) < 1 else np.arange(len(y_train)) for f in SUPERVISED_GRID}
    return X_train, y_train, X_val, y_val, labelled


def simclr_probes(data, tau: float, steps: int, bf16: bool) -> dict:
    """SimCLR as in the chapter (weights seeded with 1) for ``steps`` steps at temperature ``tau``, scored by
    linear probes on the validation images with 1 % and 10 % of the labels."""
    import numpy as np
    import torch
    from torch import nn

    from dlcore import torch_ssl as ssl

    X_train, y_train, X_val, y_val, labelled = data
    torch.manual_seed(1)
    simclr = nn.Sequential(ssl.encoder(), ssl.projection_head())
    history = ssl.pretrain(simclr, torch.from_numpy(X_train), steps, batch_size=BATCH, temperature=tau,
                           lr=LR, bf16=bf16)
    probes = {}
    for f in ("0.01", "0.1"):
        idx = labelled[f]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):  # the features only
            f_lab, f_val = (ssl.extract_features(simclr[0], torch.from_numpy(X), batch_size=2500)
                            for X in (X_train[idx], X_val))
        probes[f] = max(ssl.linear_probe(f_lab, y_train[idx], f_val, y_val, weight_decay=wd)
                        for wd in WEIGHT_DECAYS)
    print(f"tau {tau}, {steps} steps: validation probe 1 % {probes['0.01']:.4f}, 10 % {probes['0.1']:.4f} "
          f"({history['seconds']:.0f} s)", flush=True)
    return {"val_probe": {f: round(a, 4) for f, a in probes.items()},
            "final_loss": round(float(np.mean(history["loss"][-100:])), 4),
            "seconds": round(history["seconds"], 1), "steps": steps}


def temperature(data, bf16: bool, results: dict) -> dict:
    out = {str(tau): simclr_probes(data, tau, SSL_STEPS, bf16) for tau in TEMPERATURES}
    best = max(out, key=lambda t: out[t]["val_probe"]["0.01"])
    return {"runs": out, "chosen": float(best), "steps": SSL_STEPS, "batch": BATCH, "lr": LR}


def longer(data, bf16: bool, results: dict) -> dict:
    """The chosen temperature with LONGER times the steps."""
    if "temperature" not in results:
        raise SystemExit("the longer part needs the temperature part's results: run --parts temperature")
    return simclr_probes(data, results["temperature"]["chosen"], LONGER * SSL_STEPS, bf16)


def supervised(data, bf16: bool, results: dict) -> dict:
    import torch
    from torch import nn

    from dlcore import torch_ssl as ssl
    from dlcore.torch_train import shift_flip

    X_train, y_train, X_val, y_val, labelled = data
    out = {}
    for f, (step_counts, lrs) in SUPERVISED_GRID.items():
        idx = labelled[f]
        runs = {}
        for steps in step_counts:
            for lr in lrs:
                torch.manual_seed(3)
                net = nn.Sequential(ssl.encoder(), nn.Linear(128, 10))
                h = ssl.train_classifier(net, torch.from_numpy(X_train[idx]), torch.from_numpy(y_train[idx]),
                                         steps, lr=lr, augment=lambda x, g: shift_flip(x, g, fill=0.0),
                                         bf16=bf16)
                with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    logits = torch.cat([net(b) for b in torch.from_numpy(X_val).split(2500)])
                acc = float((logits.argmax(1).numpy() == y_val).mean())
                runs[f"{steps} {lr:g}"] = {"steps": steps, "lr": lr, "val_acc": round(acc, 4),
                                           "seconds": round(h["seconds"], 1)}
                print(f"supervised {float(f):.0%}: {steps} steps, lr {lr:g}: validation {acc:.4f} "
                      f"({h['seconds']:.0f} s)", flush=True)
        best = max(runs.values(), key=lambda r: r["val_acc"])
        out[f] = {"runs": runs, "chosen": {"steps": best["steps"], "lr": best["lr"]}}
    return out


PARTS = {"temperature": temperature, "supervised": supervised, "longer": longer}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="*", default=list(PARTS), choices=list(PARTS))
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="torch CPU threads (default: every core this process may use)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    import torch
    from _save import save

    from dlcore.torch_train import bf16_is_fast

    torch.set_num_threads(args.threads)
    bf16 = bf16_is_fast()
    data = split()
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for part in args.parts:
        start = time.perf_counter()
        results[part] = PARTS[part](data, bf16, results)
        results[part]["total_seconds"] = round(time.perf_counter() - start)
        save(results, args.out, args.threads, bf16)
    return 0


if __name__ == "__main__":
    sys.exit(main())
