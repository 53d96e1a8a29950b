"""The project's version, license and the boundary of the Elastic-licensed tap-postgres."""

from __future__ import annotations

import re

import yaml

from tests.support import ROOT

PACKAGES = sorted(ROOT.glob("*/pyproject.toml")) + sorted(ROOT.glob("*/*/pyproject.toml"))


def test_every_package_and_the_dbt_project_carry_the_projects_version():
    version = (ROOT / "VERSION").read_text().strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert len(PACKAGES) >= 7
    for path in PACKAGES:
        text = path.read_text()  # (tomllib is 3.11+; the project supports 3.10)
        assert re.search(rf'^version = "{re.escape(version)}"$', text, re.M), path
        assert re.search(r'^license = "Apache-2.0"$', text, re.M), path
    dbt = yaml.safe_load((ROOT / "transform/dbt_project.yml").read_text())
    assert dbt["version"] == version
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## {re.escape(version)} \(\d{{4}}-\d{{2}}-\d{{2}}\)$", changelog, re.M)


def test_the_license_is_apache_2():
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_only_the_extractors_tap_module_imports_tap_postgres():
    importers = set()
    for path in ROOT.glob("*/**/*.py"):
        if any(part in {".venv", ".meltano", ".airflow", "tests"} for part in path.parts):
            continue
        if re.search(r"^\s*(from|import) tap_postgres\b", path.read_text(errors="replace"), re.M):
            importers.add(path.relative_to(ROOT).as_posix())
    assert importers == {"extract/tap-airflow-metadb/tap_airflow_metadb/tap.py"}
