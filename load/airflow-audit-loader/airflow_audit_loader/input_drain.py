"""A loader that stops early keeps its input open until the extractor's output ends, and leaves
none of the extractor's files behind.

Meltano pipes the extractor's output into the loader. When a loader exits on an error while
the extractor is still writing, Meltano 4.4's next write into the closed pipe raises a
BrokenPipeError that it prints as a traceback after the loader's own sentence
(meltano/meltano#7047), depending on which of the two Meltano notices first. So a loader that
ends early first hands its standard input to a small child process that reads it to its end:
Meltano sees the loader exit, stops the extractor as it does for any failed loader, closes the
pipe, and the child ends with it. The loader does not wait for that.

The extractor writes a table's files, hands them over (a BATCH message) and goes on to the next
table; on a first sync it has often written every file before the loader gets far. A stopped
extractor removes its own run directory; one that had finished no longer can. So the child
removes the files of every BATCH message it reads, and at the end of the input the extractor's
run directories the loader or it saw, whole: their rows were not loaded, the run failed, and the
next run reads them again. Before, they stayed a day (a first sync's are GBs, each hour's
failed run adding its own).

The child runs this file under `python -I -S`: the standard library only, nothing imported from
the project, so it starts in milliseconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import sys
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlparse


def keep_input_open_after_exit(run_dirs: Iterable[Path] = (), prefix: str = "") -> None:
    """When standard input is a pipe, a child process reads it to its end (see the module),
    then removes `run_dirs` (the extractor's directories named `prefix`...) and those of the
    files it read of; otherwise `run_dirs` go now, no extractor writing into them."""
    dirs = [str(d) for d in run_dirs]
    try:
        if not stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode):
            remove_run_dirs(dirs, prefix)
            return
        # Not subprocess.Popen: the loader exits while the child runs, and Popen's finaliser
        # then warns (Meltano runs plugins with PYTHONWARNINGS=once) under the loader's sentence.
        os.posix_spawn(
            sys.executable,
            [sys.executable, "-I", "-S", __file__, prefix, *dirs],
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, sys.stdin.fileno(), 0),
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
            ],
        )
    except (OSError, ValueError):
        # No standard input to hand on, or no process to hand it to: the loader exits as before.
        remove_run_dirs(dirs, prefix)


def handed_over(line: bytes, prefix: str) -> list[str]:
    """The files a BATCH message line hands over, in the extractor's run directories only."""
    if b'"BATCH"' not in line:
        return []
    try:
        message = json.loads(line)
    except ValueError:
        return []
    if not isinstance(message, dict) or message.get("type") != "BATCH":
        return []
    paths = []
    for uri in message.get("manifest") or []:
        parsed = urlparse(str(uri))
        path = unquote(parsed.path)
        if parsed.scheme in ("", "file") and _is_run_dir(os.path.dirname(path), prefix):
            paths.append(path)
    return paths


def _is_run_dir(path: str, prefix: str) -> bool:
    """A directory of this user's named as the extractor names its run directories."""
    if not prefix or not os.path.basename(path).startswith(prefix):
        return False
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid()


def remove_run_dirs(dirs: Iterable[str], prefix: str) -> None:
    for directory in dirs:
        if _is_run_dir(directory, prefix):
            shutil.rmtree(directory, ignore_errors=True)


def _drain(argv: list[str]) -> None:
    prefix, dirs = argv[0], list(argv[1:])
    for line in sys.stdin.buffer:
        for path in handed_over(line, prefix):
            with contextlib.suppress(OSError):
                os.unlink(path)
            dirs.append(os.path.dirname(path))
    remove_run_dirs(dict.fromkeys(dirs), prefix)


if __name__ == "__main__":
    _drain(sys.argv[1:])
