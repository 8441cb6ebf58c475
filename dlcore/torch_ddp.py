"""Data-parallel training with ``torch.distributed`` (chapter 11): one model, P processes, each process on
its own share of every batch.

``import dlcore.torch_ddp`` does not import torch; every function imports it when called.

The idea: P processes (ranks 0 .. P-1) hold identical copies of the model. Each global batch of B samples
is cut into P shares of B/P; rank r computes the gradient of the mean loss over its share. The mean of the
P gradients is the gradient of the mean loss over all B samples, so once every rank has replaced its
gradient by that mean (an *all-reduce*), all ranks take the same optimiser step and their copies stay
identical. P processes with B/P samples each train the same weights as one process with B samples, up
to rounding (the sums are added in another order).

* ``ring_all_reduce(tensor)``: the averaging by hand, with point-to-point messages round a ring;
  ``check_all_reduce`` and ``time_all_reduce`` compare it with the library's ``dist.all_reduce``.
* ``broadcast_parameters(model)`` and ``average_gradients(model)``: data parallelism from scratch, which
  is what ``DistributedDataParallel`` (DDP) does, minus its buckets and its overlap of communication with
  the backward pass.
* ``train(args)`` / ``main(argv)``: the training script that ``torchrun`` starts,
  ``python -m torch.distributed.run --nproc-per-node=2 -m dlcore.torch_ddp --steps 100`` (options:
  ``parse_args``); without torchrun it runs in one process. It checkpoints every k steps (rank 0 writes,
  atomically) and resumes from the checkpoint, ending with the weights of an uninterrupted run; with
  ``--resume auto`` and torchrun's ``--max-restarts``, a crashed run restarts and heals itself.
* ``launch(args, nproc)`` and ``launch_nodes(args, nnodes)``: start it from Python (a notebook, the tests)
  on 127.0.0.1, with a hard timeout, leaving no process behind.

What breaks "P processes = one process" exactly:

* batch norm normalises with each rank's own batch statistics (over B/P samples, not B).
  ``nn.SyncBatchNorm`` shares them, but only on GPUs; so the default model, ``small_fashion_cnn``, has no
  batch norm, and ``--model fashion_cnn`` (with batch norm) trains well but not identically;
* dropout and augmentation draw random numbers on every rank from its own generator (seeded with
  seed + rank): still correct training, but other masks than a single process draws.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .checks import env_int, finite_number, positive_int

MODELS = ("small_fashion_cnn", "fashion_cnn")
SYNCS = ("ddp", "manual", "ring")  # who averages gradients: DDP, average_gradients, the same with the ring


# ----------------------------------------------------------------------------- communication by hand


def world() -> tuple[int, int]:
    """(rank, world size P): from ``torch.distributed`` when a process group is running, else (0, 1)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _exchange(send, recv, right: int, left: int) -> None:
    """Send ``send`` to rank ``right`` while receiving ``recv`` from rank ``left`` (both at once: with
    blocking sends every rank would wait for its right neighbour to receive, and none would)."""
    import torch.distributed as dist

    requests = []
    if send.numel():  # a tensor smaller than P has empty chunks: both sides skip them
        requests.append(dist.isend(send, right))
    if recv.numel():
        requests.append(dist.irecv(recv, left))
    for request in requests:
        request.wait()


def ring_all_reduce(tensor):
    """Average ``tensor`` (any shape, contiguous, the same shape and dtype on every rank) over all ranks,
    in place, with point-to-point messages round the ring 0 -> 1 -> ... -> P-1 -> 0; returns it.

    The flat tensor is cut into P chunks (sizes differing by at most one element).

    1. Reduce-scatter, P - 1 steps: at step s, rank r sends chunk (r - s) mod P to rank r + 1 and adds
       the chunk (r - s - 1) mod P that rank r - 1 sends it to its own copy. Each chunk collects one more
       rank's contribution per step; at the end rank r holds the full sum of chunk (r + 1) mod P.
    2. All-gather, P - 1 steps: the finished sums travel on round the ring, each rank overwriting its
       copy, until every rank has all P of them. Then divide by P.

    Cost model: every rank sends (and receives) 2 (P - 1) / P times the tensor's size in bytes, less
    than twice the tensor whatever P, in 2 (P - 1) steps. Its bandwidth does not grow with P (its latency
    does): the ring all-reduce that gloo and NCCL use for large tensors. Equals ``all_reduce_mean``
    up to rounding (the sums are added in another order).
    """
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError("ring_all_reduce needs a process group: start the script with torchrun "
                           "(it calls torch.distributed.init_process_group)")
    if not tensor.is_contiguous():
        raise ValueError("ring_all_reduce works in place on a contiguous tensor; pass tensor.contiguous()")
    rank, P = dist.get_rank(), dist.get_world_size()
    chunks = tensor.view(-1).tensor_split(P)          # P views into the tensor's memory
    right, left = (rank + 1) % P, (rank - 1) % P
    for s in range(P - 1):                             # reduce-scatter
        mine = chunks[(rank - s - 1) % P]
        incoming = torch.empty_like(mine)
        _exchange(chunks[(rank - s) % P], incoming, right, left)
        mine += incoming
    for s in range(P - 1):                             # all-gather: receive straight into the chunk
        _exchange(chunks[(rank + 1 - s) % P], chunks[(rank - s) % P], right, left)
    return tensor.div_(P)


def all_reduce_mean(tensor):
    """Average ``tensor`` over all ranks in place with the library's ``dist.all_reduce`` (a sum) / P."""
    import torch.distributed as dist

    dist.all_reduce(tensor)
    return tensor.div_(dist.get_world_size())


def broadcast_parameters(model, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers into every rank's model (so that all ranks start
    from the same weights, as DDP does when it wraps a model)."""
    import torch.distributed as dist

    for tensor in model.state_dict().values():  # state_dict tensors share memory with the model's
        dist.broadcast(tensor, src)


def average_gradients(model, all_reduce: Callable | None = None) -> None:
    """Replace every parameter's ``.grad`` by its mean over all ranks: call it after ``backward()`` and
    before ``optimizer.step()``. ``all_reduce(t)`` averages a tensor in place (default
    ``all_reduce_mean``; ``ring_all_reduce`` works too).

    One message per parameter, sent after the whole backward pass. DDP instead packs the gradients into
    buckets of about 25 MB and sends each bucket as soon as backward has filled it, overlapping the
    communication with the rest of the backward pass.
    Parameters without a gradient (unused in the forward pass) are skipped: they must be the same on
    every rank, or the ranks would wait for different messages.
    """
    all_reduce = all_reduce_mean if all_reduce is None else all_reduce
    for p in model.parameters():
        if p.grad is not None:
            all_reduce(p.grad)


# ----------------------------------------------------------------------------- the training script


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The options of ``python -m dlcore.torch_ddp`` (``--help`` lists them)."""
    p = argparse.ArgumentParser(prog="python -m dlcore.torch_ddp", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=100, help="optimiser steps in all")
    p.add_argument("--batch-size", type=int, default=256, help="global batch B (each rank gets B/P)")
    p.add_argument("--lr", type=float, default=0.05, help="peak learning rate (cosine decay to 0)")
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd", help="SGD (momentum 0.9) or AdamW")
    p.add_argument("--seed", type=int, default=0, help="initial weights and data order")
    p.add_argument("--model", choices=MODELS, default="small_fashion_cnn")
    p.add_argument("--data", choices=("fashion", "synthetic"), default="fashion",
                   help="Fashion-MNIST (no download) or random images labelled by a random linear teacher")
    p.add_argument("--n-train", type=int, default=None, help="use this many training images (default: all)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--sync", choices=SYNCS, default="ddp",
                   help="ddp: DistributedDataParallel; manual: average_gradients; ring: with ring_all_reduce")
    p.add_argument("--checkpoint", type=Path, default=None, help="checkpoint file (written by rank 0)")
    p.add_argument("--checkpoint-every", type=int, default=10, help="steps between checkpoints")
    p.add_argument("--resume", nargs="?", const="must", default="never", choices=("never", "auto", "must"),
                   help="resume from --checkpoint (--resume: it must exist; --resume auto: if it exists)")
    p.add_argument("--stop-after", type=int, default=None,
                   help="simulate a crash after this step (first attempt only: torchrun's restarts go on)")
    p.add_argument("--crash-rank", type=int, default=None, help="only this rank crashes (default: all)")
    p.add_argument("--out", type=Path, default=None, help="save the final state_dict here (rank 0)")
    p.add_argument("--log-every", type=int, default=10, help="rank 0 prints the loss every k steps")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds a collective waits for the others")
    p.add_argument("--check-all-reduce", action="store_true",
                   help="first compare ring_all_reduce with dist.all_reduce (prints the largest difference)")
    p.add_argument("--time-all-reduce", type=int, nargs="+", default=None, metavar="SIZE",
                   help="first time ring_all_reduce and dist.all_reduce on float32 tensors of these sizes")
    return p.parse_args(argv)


def check_args(args: argparse.Namespace, world_size: int) -> None:
    """Raise a ValueError (TypeError, FileNotFoundError) naming the first bad option for P = world_size."""
    for name in ("steps", "batch_size", "checkpoint_every", "log_every", "threads"):
        positive_int(getattr(args, name), f"--{name.replace('_', '-')}")
    finite_number(args.lr, "--lr", low=0, low_open=True)
    finite_number(args.timeout, "--timeout", low=0, low_open=True)
    B, P = args.batch_size, positive_int(world_size, "the world size")
    if B % P:
        raise ValueError(f"--batch-size {B} is not divisible by the world size {P}: every rank must get "
                         f"the same number of samples (B/P) per step; use a multiple of {P}")
    if args.n_train is not None and positive_int(args.n_train, "--n-train") < B:
        raise ValueError(f"--n-train {args.n_train} is smaller than one global batch (--batch-size {B})")
    if args.stop_after is not None and not 1 <= args.stop_after < args.steps:
        raise ValueError(f"--stop-after must be a step in [1, {args.steps - 1}], got {args.stop_after}")
    if args.crash_rank is not None and not 0 <= args.crash_rank < P:
        raise ValueError(f"--crash-rank {args.crash_rank} is not a rank of this run (0 .. {P - 1})")
    for n in args.time_all_reduce or ():
        positive_int(n, "a size of --time-all-reduce")
    if args.time_all_reduce and P < 2:
        raise ValueError("--time-all-reduce needs at least 2 processes: start the script with torchrun")
    if args.resume != "never" and args.checkpoint is None:
        raise ValueError("--resume needs --checkpoint PATH: the file to resume from")
    if args.resume == "must" and not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at {args.checkpoint} (use --resume auto to start "
                                "afresh when there is none)")


def init_distributed(timeout: float = 300.0) -> tuple[int, int]:
    """Join the process group that torchrun describes in the environment (RANK, WORLD_SIZE, MASTER_ADDR,
    MASTER_PORT), with the gloo backend (CPUs); returns (rank, world size). Without WORLD_SIZE: (0, 1),
    a plain single process."""
    from datetime import timedelta

    import torch.distributed as dist

    size = env_int("WORLD_SIZE")
    if size is None:
        return 0, 1
    rank = env_int("RANK", minimum=0)
    missing = [n for n in ("RANK", "MASTER_ADDR", "MASTER_PORT") if not os.environ.get(n, "").strip()]
    if missing:
        raise ValueError(f"WORLD_SIZE={size} is set but {', '.join(missing)} not: start the script with "
                         "torchrun (python -m torch.distributed.run), which sets them all")
    if rank >= size:
        raise ValueError(f"RANK={rank} is not a rank of a world of WORLD_SIZE={size} (0 .. {size - 1})")
    # The rendezvous store: torchrun's agent hosts it (TORCHELASTIC_USE_AGENT_STORE), else rank 0 does.
    # Keys get a prefix per attempt: after a crash, torchrun restarts the workers with the same store,
    # and gloo would otherwise find the addresses of the dead workers in it.
    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), size,
                          is_master=rank == 0 and not agent, timeout=timedelta(seconds=timeout))
    attempt = env_int("TORCHELASTIC_RESTART_COUNT", minimum=0) or 0
    dist.init_process_group("gloo", store=dist.PrefixStore(f"attempt{attempt}", store), rank=rank,
                            world_size=size, timeout=timedelta(seconds=timeout))
    return rank, size


def training_data(name: str = "fashion", n: int | None = None, seed: int = 0, dtype=None):
    """Training images X (n, 1, 28, 28), standardised, and labels y (n,) int64.

    ``"fashion"``: Fashion-MNIST's training set (``n``: a class-balanced subset; no download).
    ``"synthetic"``: n (default 1024) standard-normal images labelled by a fixed random linear map (the
    argmax of 10 scores), learnable and independent of any data set; seeded by ``seed``.
    """
    import torch

    if name == "synthetic":
        g = torch.Generator().manual_seed(seed)
        X = torch.randn(n or 1024, 1, 28, 28, generator=g)
        y = (X.flatten(1) @ torch.randn(28 * 28, 10, generator=g)).argmax(1)
    else:
        from .data import load_fashion_mnist
        from .torch_models import FASHION_MEAN, FASHION_STD

        X, y, _, _ = load_fashion_mnist(n_train=n)
        X, y = (torch.from_numpy(X) - FASHION_MEAN) / FASHION_STD, torch.from_numpy(y)
    return X.to(dtype or torch.float32), y.long()


def make_model(name: str = "small_fashion_cnn", seed: int = 0):
    """A model of ``MODELS`` with initial weights drawn from ``seed`` (the same on every rank)."""
    import torch

    from . import torch_models

    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {MODELS}")
    torch.manual_seed(seed)
    return torch_models.fashion_cnn() if name == "fashion_cnn" else torch_models.small_fashion_cnn(seed=seed)


# the options a checkpoint must share with the run that resumes it (the others, e.g. --sync, may differ)
RESUME_KEYS = ("model", "data", "n_train", "dtype", "batch_size", "lr", "optimizer", "seed", "steps")


def _atomic_save(obj, path: Path) -> None:
    """``torch.save(obj, path)`` through a temp file in the same folder renamed over ``path``: a crash while
    writing leaves the previous file intact, never half a file."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def save_checkpoint(path: Path, step: int, model, optimizer, scheduler, args) -> None:
    """Called by every rank: gathers each rank's random-number state, then rank 0 writes the model,
    optimiser, scheduler, step and options to ``path`` (atomically); a barrier makes the others wait
    until the file is complete. The data order needs no state: it is a function of (seed, step)."""
    import torch
    import torch.distributed as dist

    rank, P = world()
    rng = [torch.get_rng_state()]
    if P > 1:
        rng = [None] * P
        dist.all_gather_object(rng, torch.get_rng_state())
    if rank == 0:
        _atomic_save({"step": step, "world_size": P, "rng": rng, "model": model.state_dict(),
                      "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                      "options": {k: getattr(args, k) for k in RESUME_KEYS}}, path)
    if P > 1:
        dist.barrier()


def load_checkpoint(path: Path, model, optimizer, scheduler, args) -> int:
    """Restore what ``save_checkpoint`` wrote into the (unwrapped) model, optimiser and scheduler; returns
    the step to go on from. The random-number state is restored when the world size is the same."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint at {path}") from None
    except Exception as err:
        raise ValueError(f"checkpoint {path} cannot be read ({type(err).__name__}: {err})") from err
    saved = state["options"]
    diff = [f"--{k.replace('_', '-')} {saved.get(k)} there, {getattr(args, k)} here" for k in RESUME_KEYS
            if saved.get(k) != getattr(args, k)]
    if diff:
        raise ValueError(f"checkpoint {path} belongs to another run: " + "; ".join(diff))
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    rank, P = world()
    if state["world_size"] == P:
        torch.set_rng_state(state["rng"][rank])
    return int(state["step"])


def _log(message: str) -> None:
    """Print on rank 0 only (P copies of every line would say nothing more)."""
    if world()[0] == 0:
        print(message, flush=True)


def train(args: argparse.Namespace) -> dict:
    """Train ``args.model`` with global batch B = ``args.batch_size`` on every rank of the running process
    group (or alone); returns ``{"model", "steps", "loss", "seconds_per_step", "world_size"}``.

    Every epoch, ``DistributedSampler`` draws one permutation of the data from (seed, epoch), the same on
    every rank, and gives rank r the positions r, r + P, r + 2P, ...; rank r's k-th share of B/P holds
    positions kB .. (k+1)B - 1 of the permutation seen by rank r, so together the shares of step k are
    exactly the k-th batch of B that one process would draw. The data order is a function of (seed, step),
    whatever P, and a resumed run simply skips the steps already done.
    """
    import torch
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data.distributed import DistributedSampler

    rank, P = world()
    check_args(args, P)
    dtype = getattr(torch, args.dtype)
    X, y = training_data(args.data, args.n_train, args.seed, dtype)
    model = make_model(args.model, args.seed).to(dtype)
    optimizer = (torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9) if args.optimizer == "sgd"
                 else torch.optim.AdamW(model.parameters(), lr=args.lr))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.steps)
    torch.manual_seed(args.seed + rank)  # this rank's own generator (dropout, augmentation)
    step = 0
    if args.resume == "must" or (args.resume == "auto" and args.checkpoint.is_file()):
        step = load_checkpoint(args.checkpoint, model, optimizer, scheduler, args)
        _log(f"resumed from {args.checkpoint} at step {step}")
    net = model
    if P > 1 and args.sync == "ddp":
        net = DistributedDataParallel(model)  # broadcasts rank 0's weights; all-reduces during backward
    elif P > 1:
        broadcast_parameters(model)
    sampler = DistributedSampler(range(len(y)), num_replicas=P, rank=rank, seed=args.seed, drop_last=True)
    b = args.batch_size // P  # this rank's share of every batch
    per_epoch = len(sampler) // b
    if per_epoch == 0:
        raise ValueError(f"{len(y)} training samples give no full batch of --batch-size {args.batch_size}")
    start, first, loss = time.perf_counter(), step, torch.zeros(())
    while step < args.steps:
        epoch, done = divmod(step, per_epoch)
        sampler.set_epoch(epoch)
        shares = torch.tensor(list(sampler))[:per_epoch * b].view(per_epoch, b)
        for idx in shares[done:min(per_epoch, done + args.steps - step)]:
            loss = F.cross_entropy(net(X[idx]), y[idx])  # mean over this rank's B/P samples
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # with DDP, the gradients arrive averaged over the ranks
            if P > 1 and args.sync != "ddp":
                average_gradients(model, ring_all_reduce if args.sync == "ring" else all_reduce_mean)
            optimizer.step()
            scheduler.step()
            step += 1
            _after_step(step, loss, model, optimizer, scheduler, args)
    seconds = time.perf_counter() - start
    if args.out is not None and rank == 0:
        _atomic_save(model.state_dict(), args.out)
    return {"model": model, "steps": step, "loss": _mean_loss(loss), "world_size": P,
            "seconds_per_step": seconds / max(step - first, 1)}


def _mean_loss(loss) -> float:
    """The loss averaged over all ranks (every rank must call it)."""
    loss = loss.detach().clone()
    if world()[1] > 1:
        all_reduce_mean(loss)
    return float(loss)


def _after_step(step: int, loss, model, optimizer, scheduler, args) -> None:
    """Log (rank 0), checkpoint (rank 0 writes) and, with ``--stop-after``, simulate a crash."""
    if step % args.log_every == 0 or step == args.steps:
        _log(f"step {step}/{args.steps}: loss {_mean_loss(loss):.4f}")
    if args.checkpoint is not None and (step % args.checkpoint_every == 0 or step == args.steps):
        save_checkpoint(args.checkpoint, step, model, optimizer, scheduler, args)
    first_attempt = (env_int("TORCHELASTIC_RESTART_COUNT", minimum=0) or 0) == 0
    if step == args.stop_after and first_attempt and args.crash_rank in (None, world()[0]):
        raise RuntimeError(f"simulated crash after step {step} (--stop-after) on rank {world()[0]}")


def check_all_reduce(sizes: Sequence[int] = (1, 2, 7, 1000, 1001), seed: int = 0) -> float:
    """The largest |ring_all_reduce - all_reduce_mean| over float64 random tensors of these sizes (each
    rank draws its own), over all ranks. Every rank must call it."""
    import torch
    import torch.distributed as dist

    g = torch.Generator().manual_seed(seed + world()[0])
    worst = torch.zeros((), dtype=torch.float64)
    for n in sizes:
        t = torch.randn(n, generator=g, dtype=torch.float64)
        worst = torch.maximum(worst, (ring_all_reduce(t.clone()) - all_reduce_mean(t)).abs().max())
    dist.all_reduce(worst, op=dist.ReduceOp.MAX)
    return float(worst)


def time_all_reduce(sizes: Sequence[int] = (1_000, 100_000), repeats: int = 20,
                    seed: int = 0) -> list[tuple[int, float, float]]:
    """Time ``ring_all_reduce`` and ``all_reduce_mean`` (``dist.all_reduce``) on float32 tensors of these
    sizes: ``[(size, ring seconds, library seconds), ...]``. A call takes as long as its slowest rank;
    each time is the shortest of ``repeats`` calls (after one untimed call of each), the call least
    disturbed by other programs, as ``timeit`` recommends. Every rank must call it."""
    import torch
    import torch.distributed as dist

    positive_int(repeats, "repeats")
    g = torch.Generator().manual_seed(seed + world()[0])
    for reduce in (ring_all_reduce, all_reduce_mean):  # warm up: connections, buffers, caches
        for _ in range(3):
            reduce(torch.zeros(1000))
    rows = []
    for n in sizes:
        t = torch.randn(positive_int(n, "a size"), generator=g)
        seconds = torch.zeros(2, repeats + 1, dtype=torch.float64)
        for i, reduce in enumerate((ring_all_reduce, all_reduce_mean)):
            for k in range(repeats + 1):
                work = t.clone()
                dist.barrier()  # all ranks start together
                start = time.perf_counter()
                reduce(work)
                seconds[i, k] = time.perf_counter() - start
        dist.all_reduce(seconds, op=dist.ReduceOp.MAX)  # each call: its slowest rank
        best = seconds[:, 1:].min(dim=1).values  # the first call left out
        rows.append((int(n), float(best[0]), float(best[1])))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dlcore.torch_ddp [options]``, alone or under torchrun: check the options, join the
    process group, train, leave the group (always, also after an error)."""
    import torch
    import torch.distributed as dist

    args = parse_args(argv)
    check_args(args, env_int("WORLD_SIZE") or 1)  # bad options fail at once, before the rendezvous
    torch.set_num_threads(args.threads)
    init_distributed(args.timeout)
    try:
        if args.check_all_reduce:
            _log(f"ring_all_reduce vs dist.all_reduce: max |difference| {check_all_reduce():.3g}")
        if args.time_all_reduce:
            for n, ring, library in time_all_reduce(args.time_all_reduce):
                _log(f"all-reduce of {n} float32: ring_all_reduce {1000 * ring:.3f} ms, "
                     f"dist.all_reduce {1000 * library:.3f} ms")
        result = train(args)
        _log(f"done: {result['steps']} steps on {result['world_size']} process(es), "
             f"loss {result['loss']:.4f}, {1000 * result['seconds_per_step']:.1f} ms/step")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


# ----------------------------------------------------------------------------- starting it from Python


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the system picks it; another program could take it before
    we use it, which is unlikely enough for tests and notebooks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_command(args: Sequence[str], nproc: int = 2, nnodes: int = 1, node_rank: int = 0,
                     port: int | None = None, max_restarts: int = 0,
                     module: str = "dlcore.torch_ddp") -> list[str]:
    """The command line ``python -m torch.distributed.run ... -m module args`` for one node (one torchrun
    agent, which starts ``nproc`` workers) of ``nnodes``, all on 127.0.0.1 with the static rendezvous:
    node 0's agent listens on ``port``, and ranks are node_rank * nproc + local rank."""
    positive_int(nproc, "nproc")
    if not 0 <= node_rank < positive_int(nnodes, "nnodes"):
        raise ValueError(f"node_rank must be in 0 .. {nnodes - 1}, got {node_rank}")
    return [sys.executable, "-m", "torch.distributed.run", f"--nnodes={nnodes}", f"--node-rank={node_rank}",
            f"--nproc-per-node={nproc}", "--master-addr=127.0.0.1", f"--master-port={port or free_port()}",
            f"--max-restarts={max_restarts}", "--monitor-interval=0.1", "-m", module, *map(str, args)]


def _child_env() -> dict[str, str]:
    """The environment of the launched processes: one thread each, dlcore importable, gloo on loopback."""
    root = str(Path(__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=root + (os.pathsep + path if path else ""))
    if sys.platform.startswith("linux") or sys.platform == "darwin":
        env.setdefault("GLOO_SOCKET_IFNAME", "lo" if sys.platform.startswith("linux") else "lo0")
    return env


def _kill_group(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """End every process of ``proc``'s process group (torchrun and its workers): SIGTERM, then SIGKILL
    after ``grace`` seconds for those still alive; reap ``proc``."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:  # nobody left in the group
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                try:
                    os.killpg(proc.pid, 0)  # signal 0: is anyone of the group still there?
                except ProcessLookupError:
                    break
            time.sleep(0.05)
    proc.wait()


def run_group(commands: Sequence[Sequence[str]], timeout: float = 300.0) -> list[subprocess.CompletedProcess]:
    """Run the commands at once, each in its own session (process group), output (stdout and stderr
    together) to temp files. When one fails, the others are stopped; after ``timeout`` seconds all are,
    and ``TimeoutError`` says so. Whatever happens, every process group is killed before returning:
    no worker is left behind."""
    procs, outputs, timed_out = [], [], False
    deadline = time.monotonic() + finite_number(timeout, "timeout", low=0, low_open=True)
    try:
        for cmd in commands:
            outputs.append(tempfile.TemporaryFile())
            procs.append(subprocess.Popen(list(cmd), stdout=outputs[-1], stderr=subprocess.STDOUT,
                                          env=_child_env(), start_new_session=True))
        while True:
            codes = [p.poll() for p in procs]  # None: still running
            if None not in codes or any(codes):  # all done, or one failed
                break
            if time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(0.05)
    finally:
        for p in procs:
            _kill_group(p)
    texts = []
    for f in outputs:
        f.seek(0)
        texts.append(f.read().decode(errors="replace"))
        f.close()
    if timed_out:
        tail = "\n".join("\n".join(t.splitlines()[-15:]) for t in texts)
        raise TimeoutError(f"{' '.join(commands[0][-4:])}... did not finish within {timeout:g} s; "
                           f"killed. The output ended with:\n{tail}")
    return [subprocess.CompletedProcess(list(c), p.returncode, t) for c, p, t in zip(commands, procs, texts,
                                                                                     strict=True)]


def _checked(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    if result.returncode != 0:
        tail = "\n".join(result.stdout.splitlines()[-25:])
        raise RuntimeError(f"{' '.join(result.args)} exited with status {result.returncode}; "
                           f"its output ended with:\n{tail}")
    return result


def launch(args: Sequence[str] = (), nproc: int = 2, timeout: float = 300.0, max_restarts: int = 0,
           module: str = "dlcore.torch_ddp", check: bool = True) -> subprocess.CompletedProcess:
    """Run ``torchrun --nproc-per-node=nproc -m module args`` on this machine (127.0.0.1, a free port) and
    wait for it; returns the ``CompletedProcess`` (``returncode``, ``stdout``: stdout and stderr).
    ``check``: a failure raises RuntimeError with the end of the output. ``max_restarts``: how often
    torchrun restarts all workers after one fails (elastic training; with ``--resume auto`` they go on
    from the last checkpoint). Always returns or raises within ``timeout`` seconds (plus a few to kill)."""
    cmd = torchrun_command(args, nproc=nproc, max_restarts=max_restarts, module=module)
    result = run_group([cmd], timeout)[0]
    return _checked(result) if check else result


def launch_nodes(args: Sequence[str] = (), nnodes: int = 2, nproc_per_node: int = 1, timeout: float = 300.0,
                 module: str = "dlcore.torch_ddp", check: bool = True) -> list[subprocess.CompletedProcess]:
    """``nnodes`` "machines" on this one: one torchrun agent per node (``--nnodes --node-rank``, the same
    master address and port), as one would start on each machine of a cluster. Returns one
    ``CompletedProcess`` per node (rank 0's log is in the first); when one node fails, the others are
    stopped."""
    port = free_port()
    cmds = [torchrun_command(args, nproc_per_node, nnodes, i, port, module=module) for i in range(nnodes)]
    results = run_group(cmds, timeout)
    if check:
        for r in results:
            _checked(r)
    return results


if __name__ == "__main__":
    sys.exit(main())
