"""make evaluate: run dbt-project-evaluator on the dbt project, every rule at severity error.

dbt-project-evaluator is a dbt package (dbt Hub), not a PyPI package, so it is not part of the project's
install and `make test` cannot run it where dbt Hub is unreachable (there, tests/transform/
test_dbt_project_rules.py enforces its main rules on the manifest). This script runs the real package:

1. copies transform/ to a temporary folder (the project itself never depends on the package),
2. adds a packages.yml: dbt Hub's dbt-labs/dbt_project_evaluator and dbt-labs/dbt_utils at the versions
   pinned below, or local checkouts of both given with --evaluator-dir and --dbt-utils-dir (for machines
   without dbt Hub; the evaluator's own dependency on dbt_utils is pointed at the local checkout),
3. runs `dbt deps` and `dbt build --warn-error --select package:dbt_project_evaluator` with the project's
   DuckDB profile into a throwaway DuckDB file: the evaluator reads dbt's graph, not the warehouse.

Exit code 0 means no rule found anything. Project-wide settings for the evaluator (rpt_ models are
marts) live in transform/dbt_project.yml under vars: dbt_project_evaluator.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DBT = ROOT / ".meltano" / "transformers" / "dbt-duckdb" / "venv" / "bin" / "dbt"
EVALUATOR_VERSION = "1.3.2"
DBT_UTILS_VERSION = "1.4.1"


def packages_yml(evaluator_dir: Path | None, utils_dir: Path | None, work: Path) -> str:
    if evaluator_dir is None and utils_dir is None:
        return (
            "packages:\n"
            f"  - package: dbt-labs/dbt_project_evaluator\n    version: {EVALUATOR_VERSION}\n"
            f"  - package: dbt-labs/dbt_utils\n    version: {DBT_UTILS_VERSION}\n"
        )
    if evaluator_dir is None or utils_dir is None:
        sys.exit("evaluate: give both --evaluator-dir and --dbt-utils-dir, or neither (dbt Hub).")
    evaluator = work / "dbt_project_evaluator"
    shutil.copytree(
        evaluator_dir, evaluator, ignore=shutil.ignore_patterns(".git", "target", "dbt_packages")
    )
    (evaluator / "packages.yml").write_text(f"packages:\n  - local: {utils_dir.resolve()}\n")
    return f"packages:\n  - local: {evaluator}\n  - local: {utils_dir.resolve()}\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--evaluator-dir", type=Path, help="local checkout of dbt-project-evaluator"
    )
    parser.add_argument("--dbt-utils-dir", type=Path, help="local checkout of dbt-utils")
    args = parser.parse_args()
    if not DBT.exists():
        sys.exit(f"evaluate: {DBT} is missing; run `make install` first.")

    with tempfile.TemporaryDirectory(prefix="airflow-audit-evaluate-") as tmp:
        work = Path(tmp)
        project = work / "transform"
        shutil.copytree(
            ROOT / "transform",
            project,
            ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"),
        )
        (project / "packages.yml").write_text(
            packages_yml(args.evaluator_dir, args.dbt_utils_dir, work)
        )
        env = {
            **os.environ,
            "AIRFLOW_AUDIT_DUCKDB_PATH": str(work / "evaluate.duckdb"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
        dbt = [str(DBT), "--no-use-colors"]
        profile = ["--profiles-dir", str(project / "profiles" / "duckdb")]
        subprocess.run([*dbt, "deps", *profile], cwd=project, env=env, check=True)
        build = [
            *dbt,
            "--warn-error",
            "build",
            *profile,
            "--select",
            "package:dbt_project_evaluator",
            "--vars",
            "{airflow_audit_allow_missing_raw_schema: true}",
        ]
        return subprocess.run(build, cwd=project, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
