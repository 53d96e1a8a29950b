"""Wall time and peak memory of a command and of every process it starts, by name.

Peak RSS is sampled from /proc every 50 ms for the command's whole process tree and kept per
kind of process (the tap, the loader, reconciliation, dbt, Meltano itself, a peer), so each
process's peak is reported, not only the largest child's.  Sampling can miss a peak shorter
than the interval; the figures are for comparing runs of the same benchmark, not for sizing.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

KINDS = (
    ("tap-airflow-metadb", "tap"),
    ("target-airflow-audit", "loader"),
    ("airflow-audit-reconcile", "reconcile"),
    ("dbt", "dbt"),
    ("peer_dlt", "dlt"),
    ("meltano", "meltano"),
)


@dataclass
class Measured:
    seconds: float
    returncode: int
    stdout: str
    stderr: str
    peak_mb: dict[str, float] = field(default_factory=dict)

    def check(self, what: str) -> Measured:
        if self.returncode != 0:
            raise SystemExit(
                f"bench: {what} failed (exit {self.returncode}):\n{self.stderr[-3000:]}"
            )
        return self


def kind_of(pid: int) -> str | None:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    for needle, kind in KINDS:
        if needle in cmdline:
            return kind
    return "other"


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(root: int) -> list[int]:
    """The process tree under `root` (itself included)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, []))
    return tree


def run(command: list[str], *, env: dict[str, str], cwd: Path) -> Measured:
    peaks: dict[str, float] = {}
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for pid in children(process.pid):
                kind = kind_of(pid)
                if kind:
                    peaks[kind] = max(peaks.get(kind, 0.0), rss_mb(pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return Measured(seconds, process.returncode, stdout, stderr, peaks)
