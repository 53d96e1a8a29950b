"""The destination schema: `airflow-<slug>` by default, legal in every warehouse.

One rule for every loader and for dbt (transform/macros/airflow_audit_raw_schema.sql
implements the same rule in Jinja; tests/transform/test_naming_parity.py keeps the two in step).
"""

from __future__ import annotations

import re

from airflow_audit_core.errors import UserError
from airflow_audit_core.warehouses import check_warehouse

DEFAULT_SLUG = "local"
SCHEMA_PREFIX = "airflow-"
# PostgreSQL and Redshift cut identifiers at 63/127 bytes; 63 keeps one name valid everywhere.
MAX_SCHEMA_LENGTH = 63

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$")
_SCHEMA = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def legal_for(warehouse: str, name: str) -> str:
    """Make `name` legal where a warehouse forbids or mangles characters.

    BigQuery datasets allow no `-`.  target-airflow-audit-snowflake upper-cases the schema it writes to and
    conforms `-` to `_` when it creates it (but not everywhere it writes), so on Snowflake the
    name is already what it would become: `-` -> `_`, upper case (docs/warehouses.md).
    """
    check_warehouse(warehouse)
    if warehouse == "bigquery":
        return name.replace("-", "_")
    if warehouse == "snowflake":
        return name.replace("-", "_").upper()
    return name


def destination_schema(
    slug: str | None = None,
    override: str | None = None,
    warehouse: str = "duckdb",
) -> str:
    """The schema the raw Airflow tables land in.

    `override` (AIRFLOW_AUDIT_DESTINATION_SCHEMA) wins when set; otherwise the name is
    `airflow-<slug>` (AIRFLOW_AUDIT_ENV_SLUG, default `local`).  Either way the result is
    made legal for the warehouse, and a name that cannot be made legal is refused.
    """
    override = (override or "").strip()
    if override:
        if not _SCHEMA.match(override) or len(override) > MAX_SCHEMA_LENGTH:
            raise UserError(
                f"The destination schema {override!r} is not a usable schema name: use at most "
                f"{MAX_SCHEMA_LENGTH} letters, digits, '_' or '-', starting with a letter or '_'."
            )
        return legal_for(warehouse, override)

    slug = (slug or "").strip() or DEFAULT_SLUG
    if not _SLUG.match(slug):
        raise UserError(
            f"The environment slug {slug!r} cannot make a schema name: use lowercase letters, "
            "digits, '-' or '_', starting and ending with a letter or digit "
            "(set AIRFLOW_AUDIT_ENV_SLUG, e.g. 'qwe123')."
        )
    name = SCHEMA_PREFIX + slug
    if len(name) > MAX_SCHEMA_LENGTH:
        raise UserError(
            f"The environment slug {slug!r} is too long: the schema name {name!r} must be at most "
            f"{MAX_SCHEMA_LENGTH} characters (use a slug of at most "
            f"{MAX_SCHEMA_LENGTH - len(SCHEMA_PREFIX)})."
        )
    return legal_for(warehouse, name)
