"""The settings registry every warehouse folder fills in, and the checks they share.

A warehouse's `settings.py` lists each of its loader's settings once (`SETTINGS`): its name in
Meltano, the AIRFLOW_AUDIT_* variable it is read from (or its fixed value), whether it is secret,
and whether logging in needs it.  The Meltano yml (load/<warehouse>.meltano.yml), the Airflow
operator's connection mapping, reconciliation's login, the dbt profile and docs/warehouses.md
are checked against that list (tests/load/test_registry.py), so a new setting starts there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_audit_core.errors import UserError
from airflow_audit_core.modes import parse_mode
from airflow_audit_core.naming import destination_schema
from airflow_audit_core.settings import present


@dataclass(frozen=True)
class Setting:
    """One loader setting: read from `variable`, or fixed to `value` when it has none."""

    name: str
    variable: str | None = None
    kind: str = "string"
    value: Any = None
    secret: bool = False
    # Reconciliation logs in as the loader does: these settings are what it reads.
    login: bool = False

    @property
    def meltano_value(self) -> Any:
        return f"${self.variable}" if self.variable else self.value


# Every loader's first three settings: the project's own, never passed to a third-party target.
PROJECT_SETTINGS = (
    Setting("env_slug", "AIRFLOW_AUDIT_ENV_SLUG"),
    Setting("destination_schema", "AIRFLOW_AUDIT_DESTINATION_SCHEMA"),
    Setting("mode", "AIRFLOW_AUDIT_MODE"),
)
PROJECT_SETTING_NAMES = tuple(s.name for s in PROJECT_SETTINGS)


def login_config(settings: tuple[Setting, ...], env: Mapping[str, str]) -> dict[str, Any]:
    """The environment -> what logging in needs (the login settings and the project's own)."""
    return {
        s.name: env.get(s.variable)
        for s in (*PROJECT_SETTINGS, *settings)
        if s.variable and (s.login or s in PROJECT_SETTINGS)
    }


def require(config: Mapping[str, Any], names: Mapping[str, str], warehouse: str) -> None:
    missing = [variable for key, variable in names.items() if not config.get(key)]
    if missing:
        raise UserError(
            f"{warehouse} needs {', '.join(missing)}: set "
            f"{'it' if len(missing) == 1 else 'them'} in the environment "
            f"(see docs/warehouses.md), then run again."
        )


def split(config: Mapping[str, Any], warehouse: str) -> tuple[dict[str, Any], str, str]:
    """Meltano's settings -> (the target's own settings, the raw schema, the mode)."""
    values = present(dict(config))
    schema = destination_schema(values.get("env_slug"), values.get("destination_schema"), warehouse)
    mode = parse_mode(values.get("mode"))
    target = {k: v for k, v in values.items() if k not in PROJECT_SETTING_NAMES}
    return target, schema, mode
