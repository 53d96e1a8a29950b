"""airflow-audit-target-redshift: TicketSwap's target-redshift, under the project's rules.

The target (vendor/ticketswap_target_redshift, unchanged) writes each batch as gzip CSV to S3,
COPYs it into a temporary table and MERGEs that into the table.  The subclasses here change
what the project's raw contract needs, nothing else:

* strings are VARCHAR(65535), Redshift's widest (upstream: VARCHAR(10000)), and the COPY
  options leave out TRUNCATECOLUMNS, TRIMBLANKS and BLANKSASNULL: a value that does not fit
  fails the load instead of being cut, and blanks are kept (warehouses.REDSHIFT_COPY_OPTIONS);
* `date-time` columns are TIMESTAMPTZ (upstream: TIMESTAMP, which drops the offset);
* table names are quoted where upstream writes them bare, so `airflow-<slug>` works;
* mirror/archive run only after a complete full read, and catch rows without a version.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from airflow_audit_loader import singer_shim
from airflow_audit_loader.warehouses import (
    REDSHIFT_MAX_VARCHAR,
    redshift_aws_environment,
    redshift_target_config,
)

PROG = "airflow-audit-target-redshift"


def target_class() -> type:
    from singer_sdk.connectors.sql import FullyQualifiedName
    from singer_sdk.helpers._typing import get_datelike_property_type
    from singer_sdk.typing import _jsonschema_type_check
    from sqlalchemy_redshift.dialect import TIMESTAMPTZ

    from airflow_audit_loader.sdk_sql import apply_full_read
    from airflow_audit_loader.vendor.ticketswap_target_redshift.connector import (
        RedshiftConnector,
    )
    from airflow_audit_loader.vendor.ticketswap_target_redshift.sinks import RedshiftSink
    from airflow_audit_loader.vendor.ticketswap_target_redshift.target import TargetRedshift

    class QuotedName(FullyQualifiedName):
        """`"airflow-local".dag_run`: each part quoted when Redshift needs it."""

        def __init__(self, *, preparer: Any, **parts: Any) -> None:
            self._preparer = preparer
            super().__init__(**parts)

        def prepare_part(self, part: str) -> str:
            return self._preparer.quote(part)

    class AirflowAuditRedshiftConnector(RedshiftConnector):
        default_varchar_length = REDSHIFT_MAX_VARCHAR

        def get_fully_qualified_name(  # type: ignore[override]
            self,
            table_name: str | None = None,
            schema_name: str | None = None,
            db_name: str | None = None,
            delimiter: str = ".",
        ) -> FullyQualifiedName:
            return QuotedName(
                preparer=self._dialect.identifier_preparer,
                table=table_name or "",
                schema=schema_name,
                database=db_name,
                delimiter=delimiter,
            )

        def to_sql_type(self, jsonschema_type: dict) -> Any:
            if _jsonschema_type_check(jsonschema_type, ("string",)) and (
                get_datelike_property_type(jsonschema_type) == "date-time"
            ):
                return TIMESTAMPTZ()
            return super().to_sql_type(jsonschema_type)

    class AirflowAuditRedshiftSink(RedshiftSink):
        connector_class = AirflowAuditRedshiftConnector

        def activate_version(self, new_version: int) -> None:
            apply_full_read(self, new_version)

    class AirflowAuditTargetRedshift(singer_shim.FullReadMixin, TargetRedshift):
        default_sink_class = AirflowAuditRedshiftSink

    return AirflowAuditTargetRedshift


def export_aws_keys(config: Mapping[str, Any]) -> None:
    """Give boto3 (S3 uploads) the configured keys; otherwise it finds the machine's own."""
    os.environ.update(redshift_aws_environment(config))


def main(argv: list[str] | None = None) -> None:
    singer_shim.run(
        PROG,
        argv,
        target_config=redshift_target_config,
        target_class=target_class,
        before_run=export_aws_keys,
    )


if __name__ == "__main__":
    main()
