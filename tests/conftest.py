"""Shared pytest set-up: the project's own packages importable from the test venv."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for package_dir in ("extract/tap-airflow-metadb", "load/airflow-audit-loader"):
    path = str(ROOT / package_dir)
    if path not in sys.path:
        sys.path.insert(0, path)
