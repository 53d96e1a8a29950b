"""The private singer-sdk names the tap uses (tap_airflow_metadb/sdk.py) exist in the SDK the
tap's venv has, at the version the adapter was written against."""

from __future__ import annotations

import json
import subprocess

import pytest

from tap_airflow_metadb import sdk
from tests.support import ROOT

PYTHON = ROOT / ".meltano/extractors/tap-airflow-metadb/venv/bin/python"
PROBE = """
import importlib, json, sys
from importlib.metadata import version
import singer_sdk
names, imports = json.loads(sys.argv[1]), json.loads(sys.argv[2])
owners = {"Tap": singer_sdk.Tap, "Stream": singer_sdk.Stream}
missing = []
for owner, name in names:
    cls = owners[owner]
    if not hasattr(cls, name) and name not in getattr(cls.__init__, "__code__").co_names:
        missing.append(f"{owner}.{name}")
for module, name in imports:
    if not hasattr(importlib.import_module(module), name):
        missing.append(f"{module}.{name}")
print(json.dumps({"version": version("singer-sdk"), "missing": missing}))
"""


@pytest.mark.integration
def test_the_private_sdk_names_exist_in_the_taps_sdk():
    result = subprocess.run(
        [
            str(PYTHON),
            "-c",
            PROBE,
            json.dumps(sdk.PRIVATE_NAMES),
            json.dumps(sdk.PRIVATE_IMPORTS),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout)
    assert found == {"version": sdk.SDK_VERSION, "missing": []}


def test_the_pin_is_the_adapters_version():
    pyproject = (ROOT / "extract/tap-airflow-metadb/pyproject.toml").read_text()
    assert f'"singer-sdk=={sdk.SDK_VERSION}"' in pyproject
