"""A loader that stops early keeps its input open until the extractor's output ends.

Meltano pipes the extractor's output into the loader. When a loader exits on an error while
the extractor is still writing, Meltano 4.4's next write into the closed pipe raises a
BrokenPipeError that it prints as a traceback after the loader's own sentence
(meltano/meltano#7047), depending on which of the two Meltano notices first. So a loader that
ends on a UserError first hands its standard input to a small child process that reads it to
its end and discards it: Meltano sees the loader exit, stops the extractor as it does for any
failed loader, closes the pipe, and the child ends with it. The loader does not wait for that.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

# Reads standard input to its end, 64 KiB at a time, and keeps nothing.
DISCARD = "import sys\nread = sys.stdin.buffer.raw.read\nwhile read(65536):\n    pass\n"


def keep_input_open_after_exit() -> None:
    """When standard input is a pipe, a child process reads it to its end (see the module)."""
    try:
        if not stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode):
            return
        subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", DISCARD],
            stdin=sys.stdin.fileno(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except (OSError, ValueError):
        # No standard input to hand on, or no process to hand it to: the loader exits as before.
        return
