"""Chapter 11's data parallelism (dlcore.torch_ddp): P processes with B/P samples each train the same
weights as one process with B; the ring all-reduce equals gloo's; a crashed run resumes exactly; bad
options and failing workers end promptly with a clear error and no process left behind.

The multi-process tests start torchrun on 127.0.0.1 (gloo, CPU, one thread per process, at most 2 workers
at a time) on synthetic data, in float64, so that the only differences are rounding."""

import os
import re
import sys
import time

import pytest

from dlcore import torch_ddp

# 5 steps of global batch 64 on 256 synthetic images: 4 steps per epoch, so the run crosses an epoch
BASE = ["--data", "synthetic", "--n-train", "256", "--batch-size", "64", "--steps", "5", "--dtype", "float64",
        "--log-every", "1", "--lr", "0.05"]
PARITY = 1e-10


@pytest.fixture
def one_thread(torch):
    """torch at 1 thread for this test (the machine is shared), as it was afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(before)


def max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def leftovers(marker: str) -> list[str]:
    """Command lines of live processes that mention ``marker`` (zombies have none)."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmd:
                found.append(cmd)
    return found


@pytest.fixture(scope="module")
def single(tmp_path_factory, torch):
    """The reference: one process, global batch 64, trained in this process (1 thread)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = torch_ddp.train(torch_ddp.parse_args(BASE))
    finally:
        torch.set_num_threads(before)
    return {k: v.detach().clone() for k, v in result["model"].state_dict().items()}


@pytest.fixture(scope="module")
def two_nodes_ddp(tmp_path_factory, torch):
    """DDP on 2 "nodes" of 1 process each (two torchrun agents), 32 samples per rank, after first
    comparing ring_all_reduce with dist.all_reduce and timing both. Returns (output of node 0, final state_dict)."""
    out = tmp_path_factory.mktemp("ddp") / "final.pt"
    results = torch_ddp.launch_nodes([*BASE, "--check-all-reduce", "--time-all-reduce", "10", "1000",
                                      "--out", out], nnodes=2, timeout=90)
    return results[0].stdout, torch.load(out, weights_only=True)


def test_ddp_on_two_processes_trains_the_weights_of_one(single, two_nodes_ddp):
    output, state = two_nodes_ddp
    assert "done: 5 steps on 2 process(es)" in output
    assert max_diff(state, single) <= PARITY


def test_ring_all_reduce_equals_all_reduce(two_nodes_ddp):
    output, _ = two_nodes_ddp  # sizes 1, 2, 7, 1000, 1001: also empty chunks and chunks of unequal size
    diff = float(re.search(r"ring_all_reduce vs dist.all_reduce: max \|difference\| (\S+)", output).group(1))
    assert diff <= 1e-12


def test_all_reduce_timings_are_printed(two_nodes_ddp):
    output, _ = two_nodes_ddp
    found = re.findall(r"all-reduce of (\d+) float32: ring_all_reduce (\S+) ms, dist.all_reduce (\S+) ms",
                       output)
    assert [int(n) for n, _, _ in found] == [10, 1000]
    assert all(0 < float(t) < 10_000 for _, ring, lib in found for t in (ring, lib))


def test_manual_averaging_survives_a_crash_and_resumes(tmp_path, single, two_nodes_ddp, torch):
    # rank 1 crashes after step 2; torchrun restarts both workers (--max-restarts 1), which resume
    # from the checkpoint of step 2 (--resume auto) and end with the weights of an uninterrupted run
    ckpt, out = tmp_path / "run.ckpt", tmp_path / "final.pt"
    result = torch_ddp.launch([*BASE, "--sync", "manual", "--checkpoint", ckpt, "--checkpoint-every", "1",
                               "--resume", "auto", "--stop-after", "2", "--crash-rank", "1", "--out", out],
                              max_restarts=1, timeout=90)
    assert "simulated crash after step 2" in result.stdout
    assert f"resumed from {ckpt} at step 2" in result.stdout
    state = torch.load(out, weights_only=True)
    assert max_diff(state, two_nodes_ddp[1]) <= 1e-12  # same P: the same sums, DDP or by hand
    assert max_diff(state, single) <= PARITY


def test_a_crashing_rank_ends_the_launch_promptly_and_leaves_nothing(tmp_path):
    marker = str(tmp_path / "crash.ckpt")
    start = time.monotonic()
    result = torch_ddp.launch([*BASE, "--stop-after", "1", "--crash-rank", "1", "--checkpoint", marker],
                              timeout=90, check=False)
    assert result.returncode != 0 and time.monotonic() - start < 60
    assert "simulated crash after step 1 (--stop-after) on rank 1" in result.stdout
    assert leftovers(marker) == []
    with pytest.raises(RuntimeError, match="exited with status 1"):
        torch_ddp._checked(result)


def test_resume_ends_with_the_weights_of_an_uninterrupted_run(tmp_path, one_thread, single):
    torch = one_thread
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(RuntimeError, match="simulated crash after step 3"):
        torch_ddp.train(torch_ddp.parse_args([*BASE, "--checkpoint", str(ckpt), "--checkpoint-every", "3",
                                              "--stop-after", "3"]))
    assert ckpt.is_file() and [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]  # no temp file left
    resumed = torch_ddp.train(torch_ddp.parse_args([*BASE, "--checkpoint", str(ckpt), "--resume"]))
    state = resumed["model"].state_dict()
    assert resumed["steps"] == 5
    assert all(torch.equal(state[k], single[k]) for k in single)  # exact: same P, same operations
    with pytest.raises(ValueError, match="belongs to another run: --lr 0.05 there, 0.1 here"):
        torch_ddp.train(torch_ddp.parse_args([*BASE, "--lr", "0.1", "--checkpoint", str(ckpt), "--resume"]))


def test_the_shares_of_a_step_make_up_the_batch_of_one_process(torch):
    from torch.utils.data.distributed import DistributedSampler

    N, B, P = 100, 20, 4
    one = list(DistributedSampler(range(N), num_replicas=1, rank=0, seed=3, drop_last=True))
    shares = [list(DistributedSampler(range(N), num_replicas=P, rank=r, seed=3, drop_last=True)) for r in range(P)]
    for k in range(N // B):
        together = sorted(i for s in shares for i in s[k * B // P:(k + 1) * B // P])
        assert together == sorted(one[k * B:(k + 1) * B])


@pytest.mark.parametrize(("options", "world_size", "error", "match"), [
    (["--batch-size", "63"], 2, ValueError, "--batch-size 63 is not divisible by the world size 2"),
    (["--n-train", "32"], 1, ValueError, "--n-train 32 is smaller than one global batch"),
    (["--steps", "0"], 1, ValueError, "--steps must be a positive integer"),
    (["--lr", "nan"], 1, ValueError, "--lr must be a finite number"),
    (["--stop-after", "5"], 1, ValueError, r"--stop-after must be a step in \[1, 4\]"),
    (["--crash-rank", "2"], 2, ValueError, r"--crash-rank 2 is not a rank of this run \(0 .. 1\)"),
    (["--resume"], 1, ValueError, "--resume needs --checkpoint"),
    (["--resume", "--checkpoint", "/nonexistent/run.ckpt"], 1, FileNotFoundError,
     "--resume: no checkpoint at /nonexistent/run.ckpt"),
    ([], 0, ValueError, "the world size must be a positive integer"),
    (["--time-all-reduce", "100"], 1, ValueError, "--time-all-reduce needs at least 2 processes"),
    (["--time-all-reduce", "0"], 2, ValueError, "a size of --time-all-reduce must be a positive integer"),
])
def test_bad_options_are_named(options, world_size, error, match):
    with pytest.raises(error, match=match):
        torch_ddp.check_args(torch_ddp.parse_args([*BASE, *options]), world_size)


@pytest.mark.parametrize(("env", "match"), [
    ({"WORLD_SIZE": "2"}, "WORLD_SIZE=2 is set but RANK, MASTER_ADDR, MASTER_PORT not: start the script with torchrun"),
    ({"WORLD_SIZE": "2", "RANK": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"},
     r"RANK=2 is not a rank of a world of WORLD_SIZE=2 \(0 .. 1\)"),
    ({"WORLD_SIZE": "two"}, "environment variable WORLD_SIZE='two' is not an integer"),
    ({"WORLD_SIZE": "0"}, "environment variable WORLD_SIZE='0' must be at least 1"),
])
def test_a_wrong_environment_is_named(monkeypatch, env, match):
    for name in ("WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=match):
        torch_ddp.init_distributed()


def test_without_torchrun_it_is_one_process(monkeypatch, torch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert torch_ddp.init_distributed() == (0, 1) and torch_ddp.world() == (0, 1)
    with pytest.raises(RuntimeError, match="ring_all_reduce needs a process group: start the script with torchrun"):
        torch_ddp.ring_all_reduce(torch.zeros(3))


def test_bad_launch_sizes_are_named():
    with pytest.raises(ValueError, match="nproc must be a positive integer, got 0"):
        torch_ddp.torchrun_command([], nproc=0)
    with pytest.raises(ValueError, match=r"node_rank must be in 0 .. 1, got 2"):
        torch_ddp.torchrun_command([], nnodes=2, node_rank=2)
    with pytest.raises(ValueError, match="timeout must be a finite number"):
        torch_ddp.run_group([["true"]], timeout=0)


def _tree(marker: str, seconds: float = 60) -> list[str]:
    """A process that starts a child and both sleep: ``marker`` is on both command lines."""
    child = f"import time; time.sleep({seconds})"
    code = (f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}, {marker!r}]); "
            f"time.sleep({seconds})")
    return [sys.executable, "-c", code, marker]


def test_timeout_kills_the_whole_process_group(tmp_path):
    marker = f"dlcore-ddp-timeout-{tmp_path.name}"
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="did not finish within 1 s; killed"):
        torch_ddp.run_group([_tree(marker)], timeout=1)
    assert time.monotonic() - start < 10
    assert leftovers(marker) == []


def test_when_one_command_fails_the_others_are_stopped(tmp_path):
    marker = f"dlcore-ddp-fail-{tmp_path.name}"
    start = time.monotonic()
    results = torch_ddp.run_group([_tree(marker), [sys.executable, "-c", "raise SystemExit(3)"]], timeout=60)
    assert time.monotonic() - start < 10
    assert results[1].returncode == 3 and results[0].returncode != 0
    assert leftovers(marker) == []


def test_main_runs_alone_and_reports(tmp_path, one_thread, monkeypatch, capsys):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    out = tmp_path / "final.pt"
    assert torch_ddp.main([*BASE, "--steps", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "step 2/2: loss" in printed and "done: 2 steps on 1 process(es)" in printed and out.is_file()
