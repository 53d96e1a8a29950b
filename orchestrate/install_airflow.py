"""Airflow 2 and 3, each in its own virtualenv, never mixed into Meltano's.

    python orchestrate/install_airflow.py          # .airflow/venv-2 and .airflow/venv-3
    python orchestrate/install_airflow.py 3        # only Airflow 3
    python orchestrate/install_airflow.py --lock   # re-resolve the pins, then install

Each venv is installed from its lock, orchestrate/requirements-airflow-<major>.txt (resolved by
`uv pip compile` from the .in file beside it: Airflow's constraints files live on a code host
these machines cannot reach). A venv whose lock and Python are unchanged is reused as it is;
a stamp file records what it was built from. Concurrent callers wait for each other.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "orchestrate"
AIRFLOW_DIR = ROOT / ".airflow"
MAJORS = ("2", "3")
STAMP = ".airflow-audit-installed"
# The oldest Python the project supports; the locks hold markers for every newer one.
LOCK_PYTHON = "3.10"


def venv_dir(major: str) -> Path:
    return AIRFLOW_DIR / f"venv-{major}"


def lock_file(major: str) -> Path:
    return HERE / f"requirements-airflow-{major}.txt"


def uv() -> str:
    local = ROOT / ".venv" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if not found:
        sys.exit("uv is needed to install Airflow: run `make install` first.")
    return found


def python_for_airflow() -> str:
    """AIRFLOW_AUDIT_AIRFLOW_PYTHON, else the Python running this script."""
    return os.environ.get("AIRFLOW_AUDIT_AIRFLOW_PYTHON") or sys.executable


def stamp_for(major: str, python: str) -> str:
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    digest = hashlib.sha256(lock_file(major).read_bytes() + version.encode()).hexdigest()
    return f"{digest}\n"


def lock(major: str) -> None:
    subprocess.run(
        [
            uv(),
            "pip",
            "compile",
            "--quiet",
            "--universal",
            "--python-version",
            LOCK_PYTHON,
            "--custom-compile-command",
            "python orchestrate/install_airflow.py --lock",
            f"requirements-airflow-{major}.in",
            "-o",
            lock_file(major).name,
        ],
        cwd=HERE,
        check=True,
    )
    print(f"locked {lock_file(major).relative_to(ROOT)}")


# What Airflow imports of the project: the operators (orchestrate/plugins, a package of its own)
# and the shared core they use.  Editable, so a change is seen without reinstalling.
OWN_PACKAGES = ("core", "orchestrate")


def install_own_packages(target: Path) -> None:
    python = str(target / "bin" / "python")
    editable = [arg for name in OWN_PACKAGES for arg in ("-e", str(ROOT / name))]
    subprocess.run(
        [uv(), "pip", "install", "--quiet", "--no-deps", "--python", python, *editable], check=True
    )


def install(major: str) -> Path:
    """The venv of Airflow `major`, built unless an identical one is there."""
    target = venv_dir(major)
    python = python_for_airflow()
    wanted = stamp_for(major, python)
    stamp = target / STAMP
    if stamp.exists() and stamp.read_text() == wanted and (target / "bin" / "airflow").exists():
        install_own_packages(target)
        print(f"{target.relative_to(ROOT)}: up to date, reused")
        return target
    started = time.monotonic()
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run([uv(), "venv", "--quiet", "--python", python, str(target)], check=True)
    subprocess.run(
        [
            uv(),
            "pip",
            "sync",
            "--quiet",
            "--python",
            str(target / "bin" / "python"),
            str(lock_file(major)),
        ],
        check=True,
    )
    install_own_packages(target)
    stamp.write_text(wanted)
    print(f"{target.relative_to(ROOT)}: installed in {time.monotonic() - started:.0f} s")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("majors", nargs="*", metavar="{2,3}", help="default: both")
    parser.add_argument("--lock", action="store_true", help="re-resolve the pins first")
    args = parser.parse_args(argv)
    unknown = [m for m in args.majors if m not in MAJORS]
    if unknown:
        parser.error(f"unknown Airflow major version {unknown[0]!r}: choose 2 or 3")
    AIRFLOW_DIR.mkdir(exist_ok=True)
    with (AIRFLOW_DIR / ".lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # another test run may be installing the same venv
        for major in args.majors or MAJORS:
            if args.lock:
                lock(major)
            install(major)
    return 0


if __name__ == "__main__":
    sys.exit(main())
