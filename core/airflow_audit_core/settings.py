"""The JSON configuration files Meltano passes a plugin with `--config` (later files win)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_audit_core.errors import UserError


def read_config(paths: list[str]) -> dict[str, Any]:
    """Merge the JSON configuration files, in order."""
    config: dict[str, Any] = {}
    for path in paths:
        try:
            config.update(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise UserError(f"Cannot read the configuration file {path}: {exc}.") from None
    return config


def present(config: dict[str, Any]) -> dict[str, Any]:
    """The settings that hold a value (blank counts as unset); values are kept as given."""
    return {
        key: value
        for key, value in config.items()
        if value is not None and not (isinstance(value, str) and not value.strip())
    }
