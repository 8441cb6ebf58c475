"""What every script in ``chapters/runs`` does with its results: stamp them with the machine, the date and
the command, and write them atomically (a killed run leaves the previous file intact)."""

from __future__ import annotations

import datetime
import json
import platform
import sys
from pathlib import Path


def save(results: dict, out: Path, threads: int, bf16: bool) -> None:
    """Add ``machine``, ``date`` and ``command`` to ``results`` and write it to ``out`` as JSON."""
    import torch

    results["machine"] = {"cpu_threads": threads, "processor": platform.machine(), "cpu_bf16": bf16,
                          "device": "cpu", "torch": torch.__version__.split("+")[0],
                          "python": platform.python_version()}
    results["date"] = datetime.date.today().isoformat()
    results["command"] = f"python chapters/runs/{Path(sys.argv[0]).name} " + " ".join(sys.argv[1:])
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    tmp.replace(out)
