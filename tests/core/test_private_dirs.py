"""Where a sync writes Airflow's metadata on its host: directories no other user can read or
replace, and what a killed run left there removed a day later (airflow_audit_core.private_dirs)."""

from __future__ import annotations

import os
import stat
import time

import pytest

from airflow_audit_core.errors import UserError
from airflow_audit_core.private_dirs import (
    RUN_PREFIX,
    STALE_AFTER_SECONDS,
    default_root,
    new_run_dir,
    private_root,
)

ADVICE = "point X at another directory; nothing was read"
# Another user's id, for the checks of ownership (setting it needs root).
OTHER_UID = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")


def refusal(root) -> str:
    with pytest.raises(UserError) as refused:
        private_root(root, advice=ADVICE)
    sentence = str(refused.value)
    assert sentence.startswith(f"Will not write the sync's files (Airflow's metadata) to {root},")
    assert sentence.endswith(f": {ADVICE}.")
    return sentence


def test_a_missing_root_is_made_for_this_user_alone_and_its_runs_too(tmp_path):
    root = private_root(tmp_path / "a" / "b", advice=ADVICE)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    run = new_run_dir(root, advice=ADVICE)
    assert run.parent == root and run.name.startswith(RUN_PREFIX)
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    assert new_run_dir(root, advice=ADVICE) != run


def test_the_default_root_is_one_per_user():
    assert default_root("spool").name == f"airflow-audit-spool-{os.geteuid()}"


def test_a_root_others_can_write_to_is_refused_unless_sticky(tmp_path):
    root = tmp_path / "shared"
    root.mkdir()
    root.chmod(0o777)
    assert "which other users can write to" in refusal(root)
    root.chmod(0o775)
    assert "which other users can write to" in refusal(root)
    root.chmod(0o1777)  # as /tmp: others cannot rename or remove what this user made in it
    assert private_root(root, advice=ADVICE) == root


def test_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("")
    assert "which is not a directory" in refusal(tmp_path / "f")


@as_root
def test_a_root_or_a_link_of_another_users_is_refused(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, OTHER_UID, OTHER_UID)
    assert f"which belongs to another user (uid {OTHER_UID})" in refusal(theirs)

    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(mine)
    assert private_root(link, advice=ADVICE) == link  # this user's own link to its own directory
    os.lchown(link, OTHER_UID, OTHER_UID)
    assert f"which is a link another user made (uid {OTHER_UID})" in refusal(link)


def test_a_run_left_a_day_ago_is_removed_and_nothing_else(tmp_path):
    root = private_root(tmp_path / "root", advice=ADVICE)
    day_ago = time.time() - STALE_AFTER_SECONDS - 60
    killed = root / f"{RUN_PREFIX}killed"
    (killed / "sub").mkdir(parents=True)
    (killed / "sub" / "0.jsonl").write_text("{}\n")
    running = root / f"{RUN_PREFIX}running"  # another run under way
    running.mkdir()
    someone_elses = root / "run-not-ours"  # another program's, in a root a user pointed at /tmp
    someone_elses.mkdir()
    for old in (killed, killed / "sub", someone_elses):
        os.utime(old, (day_ago, day_ago))
    new_run_dir(root, advice=ADVICE)
    assert not killed.exists()
    assert running.is_dir() and someone_elses.is_dir()
