"""Directories for the files a sync writes on its host: the extractor's hand-over files and the
loader's spool. They hold Airflow's metadata, so each run writes into a directory only its user
can read, under a root only its user can change, and a run that was killed (SIGKILL, a lost
host) has its directory removed by the next run on the host a day later."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

from airflow_audit_core.errors import UserError

STALE_AFTER_SECONDS = 24 * 3600
# Only directories named so are ever removed, whatever directory a user points the root at.
RUN_PREFIX = "airflow-audit-run-"


def default_root(purpose: str) -> Path:
    """`<temporary directory>/airflow-audit-<purpose>-<uid>`: one per user, so that users sharing
    a host (Airflow's `run_as_user`) never write into each other's."""
    return Path(tempfile.gettempdir()) / f"airflow-audit-{purpose}-{os.geteuid()}"


def private_root(root: Path, *, advice: str) -> Path:
    """`root`, created readable by this user alone if missing, after checking that no other
    user can replace what is written in it: a directory that this user or root owns (or a link
    of theirs to one) and that others cannot write to, unless it is sticky as /tmp is.
    `advice` ends the sentence when it cannot be used: which setting to point elsewhere, and
    what was not done."""
    mine = (os.geteuid(), 0)
    try:
        with contextlib.suppress(FileExistsError):  # checked below, whatever it is
            root.mkdir(mode=0o700, parents=True)
        link = root.lstat()
        info = root.stat()
    except OSError as exc:
        raise UserError(
            f"Cannot write the sync's files to {root} ({exc.strerror}): {advice}."
        ) from None
    problem = None
    if stat.S_ISLNK(link.st_mode) and link.st_uid not in mine:
        problem = f"is a link another user made (uid {link.st_uid})"
    elif not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory"
    elif info.st_uid not in mine:
        problem = f"belongs to another user (uid {info.st_uid})"
    elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX:
        problem = "other users can write to, and so replace the files in"
    if problem:
        raise UserError(
            f"Will not write the sync's files (Airflow's metadata) to {root}, which {problem}: "
            f"{advice}."
        )
    return root


def new_run_dir(root: Path, *, advice: str) -> Path:
    """A new directory under `root` that only this user can read, after removing this user's run
    directories there last changed more than a day ago (left by runs that were killed)."""
    now = time.time()
    for old in root.glob(f"{RUN_PREFIX}*"):
        try:
            info = old.lstat()
        except OSError:
            continue
        if (
            stat.S_ISDIR(info.st_mode)
            and info.st_uid == os.geteuid()
            and now - info.st_mtime > STALE_AFTER_SECONDS
        ):
            shutil.rmtree(old, ignore_errors=True)
    try:
        return Path(tempfile.mkdtemp(prefix=RUN_PREFIX, dir=root))
    except OSError as exc:
        raise UserError(
            f"Cannot write the sync's files to {root} ({exc.strerror}): {advice}."
        ) from None
