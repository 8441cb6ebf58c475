"""Chapter 7's "industrial version": a small ResNet on Fashion-MNIST, and its ablations.

Run from the repository root (about 27 minutes on 2 CPU cores, every run included):

    .venv/bin/python chapters/runs/ch07_resnet.py               # all runs -> chapters/runs/ch07_resnet.json
    .venv/bin/python chapters/runs/ch07_resnet.py --runs resnet  # one run, merged into the same file

Every run uses the recipe of ``dlcore.torch_train.fit`` (AdamW with weight decay on the weights only,
one-cycle schedule, label smoothing 0.1, batches of 128, random 2-pixel shifts and flips; mixed precision in
bfloat16 where the CPU computes it natively, see ``--bf16``) for the same number of epochs, on 55,000
training images; the 5,000 validation images are watched during training, and the test set is evaluated once
per run, after training, with and without flip test-time augmentation. The chapter reads the JSON file this
script writes and prints its table.

One decision was made after seeing a test accuracy, and is reported here: a first version trained 12 epochs
in float32 (337 s of training, test accuracy 0.934); it was then switched to bfloat16, which this CPU computes
natively, to afford 16 epochs in less time. Nothing else was chosen by looking at test accuracies.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

OUT = Path(__file__).with_suffix(".json")
EPOCHS = 16

# name: (what it is, builder keyword arguments, fit keyword arguments)
RUNS = {
    "resnet": ("ResNet: skips, batch norm, augmentation", {}, {}),
    "no_skips": ("the same without skip connections", {"skips": False}, {}),
    "no_bn": ("the same without batch norm", {"batch_norm": False}, {}),
    "no_augmentation": ("the same without augmentation", {}, {"augment": None}),
    "chapter5_cnn": ("chapter 5's CNN, this recipe", "fashion_cnn", {}),
}


def run(name: str, epochs: int, bf16: bool, seed: int = 0) -> dict:

    from dlcore import torch_models, torch_train

    what, build, fit_kwargs = RUNS[name]
    X, y, X_val, y_val, X_test, y_test = torch_train.fashion_tensors(seed=0)
    torch_train.set_seed(seed)
    model = torch_models.fashion_cnn() if build == "fashion_cnn" else torch_models.fashion_resnet(**build)
    n_params = torch_train.count_parameters(model)
    print(f"== {name}: {what}, {n_params:,} parameters, {epochs} epochs", flush=True)
    history = torch_train.fit(model, X, y, X_val, y_val, epochs=epochs, seed=seed, bf16=bf16, **fit_kwargs,
                              log=lambda line: print(line, flush=True))
    _, test_acc, _ = torch_train.evaluate(model, X_test, y_test)
    _, test_acc_tta, _ = torch_train.evaluate(model, X_test, y_test, tta_flip=True)
    print(f"   test accuracy {test_acc:.4f}, with flip TTA {test_acc_tta:.4f}, "
          f"{history['seconds']:.0f} s of training", flush=True)
    return {"what": what, "parameters": torch_train.count_parameters(model), "epochs": epochs, "bf16": bf16,
            "train_seconds": round(history["seconds"], 1), "steps": history["steps"],
            "val_acc": [round(v, 4) for v in history["val_acc"]],
            "val_loss": [round(v, 4) for v in history["val_loss"]],
            "loss": [round(v, 4) for v in history["loss"]],
            "test_acc": round(test_acc, 4), "test_acc_tta": round(test_acc_tta, 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="*", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="torch CPU threads (default: every core this process may use)")
    parser.add_argument("--bf16", choices=["auto", "on", "off"], default="auto",
                        help="bfloat16 autocast; auto: where the CPU computes bfloat16 natively")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    import torch
    from _save import save

    from dlcore import torch_train

    torch.set_num_threads(args.threads)
    bf16 = args.bf16 == "on" or (args.bf16 == "auto" and torch_train.bf16_is_fast())
    results = json.loads(args.out.read_text()) if args.out.exists() else {"runs": {}}
    for name in args.runs:
        results["runs"][name] = run(name, args.epochs, bf16)
        save(results, args.out, args.threads, torch_train.bf16_is_fast())
    return 0


if __name__ == "__main__":
    sys.exit(main())
