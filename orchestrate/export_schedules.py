"""Write orchestrate/dags/schedules.json: the project's Meltano schedules, for the DAG files.

    python orchestrate/export_schedules.py            # (re)write the export
    python orchestrate/export_schedules.py --check    # exit 1 if the export is out of date

The DAG files never run `meltano` while Airflow parses them; they read this export, written by
`meltano schedule list --format=json` from orchestrate/schedules.meltano.yml. Run it (`make
schedules`) after changing a schedule; the tests fail while the two disagree.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPORT = ROOT / "orchestrate" / "dags" / "schedules.json"


def meltano_executable() -> str:
    local = ROOT / ".venv" / "bin" / "meltano"
    if local.exists():
        return str(local)
    found = shutil.which("meltano")
    if not found:
        sys.exit("No meltano found: run `make install` first.")
    return found


def current_export() -> str:
    """`meltano schedule list --format=json`, as the text the export file holds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_AUDIT_")}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    result = subprocess.run(
        [meltano_executable(), "schedule", "list", "--format=json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-1:] or ["no output"]
        sys.exit(f"meltano schedule list failed (exit {result.returncode}): {tail[0]}")
    data = json.loads(result.stdout)
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--output", type=Path, default=EXPORT, help=f"default {EXPORT}")
    args = parser.parse_args(argv)
    text = current_export()
    if args.check:
        old = args.output.read_text() if args.output.exists() else ""
        if old != text:
            print(
                f"{args.output} is out of date with the Meltano schedules: run `make schedules`.",
                file=sys.stderr,
            )
            return 1
        print(f"{args.output} matches the Meltano schedules.")
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
