"""target-airflow-audit-snowflake: the MeltanoLabs target-snowflake, under the project's rules.

Installed with `meltanolabs-target-snowflake` in one venv (load/snowflake.meltano.yml).  What
it adds to the real target: the raw schema AIRFLOW_<SLUG> (warehouses.raw_schema), mirror or
archive applied only after a complete full read (singer_shim, full_read), zoned timestamps
(TIMESTAMP_TZ) and UUIDs kept as written, tables Airflow 3 re-keyed followed in place (rekey.py),
and each batch stamped after every row its table holds (wrapped_target.StampedBatches).
"""

from __future__ import annotations

from airflow_audit_loader import wrapped_target
from airflow_audit_loader.snowflake.settings import target_config as snowflake_target_config

PROG = "target-airflow-audit-snowflake"


def target_class() -> type:
    import sqlalchemy as sa
    from target_snowflake.connector import SnowflakeConnector
    from target_snowflake.sinks import SnowflakeSink
    from target_snowflake.target import TargetSnowflake

    from airflow_audit_loader.snowflake import rekey
    from airflow_audit_loader.snowflake.sdk_sql import apply_full_read

    class AirflowAuditSnowflakeConnector(SnowflakeConnector):
        """Merges that also replace rows stored under a key Airflow replaced (rekey.py)."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.airflow_audit_legacy: dict[str, list[str]] = {}

        def _adapt_column_type(self, full_table_name, column_name, sql_type) -> None:
            current = self._get_column_type(full_table_name, column_name)
            if isinstance(sql_type, sa.types.String) and not isinstance(current, sa.types.String):
                # Text now (3.0: dag_run_note.user_id): the SDK would keep the number column and
                # cast every new value into it, and Snowflake changes no type to VARCHAR in place.
                rekey.move_to_text(self, full_table_name, column_name, current, sql_type)
                return
            super()._adapt_column_type(full_table_name, column_name, sql_type)

        def merge_from_stage(self, full_table_name, schema, sync_id, file_format, key_properties):
            natural = self.airflow_audit_legacy.get(str(full_table_name))
            if not natural:
                return super().merge_from_stage(
                    full_table_name, schema, sync_id, file_format, key_properties
                )
            merge, kwargs = self._get_merge_from_stage_statement(
                full_table_name=full_table_name,
                schema=schema,
                sync_id=sync_id,
                file_format=file_format,
                key_properties=key_properties,
            )
            stage = f"'@~/target-snowflake/{sync_id}'(file_format => {file_format})"
            replace = rekey.replace_legacy_rows_sql(
                self, full_table_name, schema, list(key_properties), natural, stage
            )
            # One transaction: the old rows go only with the rows that replace them.
            with self._connect() as conn, conn.begin():
                conn.execute(sa.text(replace))
                row = conn.execute(merge, **kwargs).fetchone()
            return sum(row) if row is not None else 0

    class AirflowAuditSnowflakeSink(wrapped_target.StampedBatches, SnowflakeSink):
        connector_class = AirflowAuditSnowflakeConnector

        def latest_stamp(self):
            # Created unquoted, so upper-case; the target's setup created the table if it was not.
            sql = f"select max(_sdc_batched_at) from {self.full_table_name}"
            with self.connector._connect() as conn:
                return conn.execute(sa.text(sql)).scalar()

        def setup(self) -> None:
            existed = bool(rekey.natural_key(self.schema)) and self.connector.table_exists(
                self.full_table_name
            )
            super().setup()
            if existed:
                natural = rekey.prepare(self)
                if natural:
                    self.connector.airflow_audit_legacy[str(self.full_table_name)] = natural

        def activate_version(self, new_version: int) -> None:
            apply_full_read(self, new_version)

    class AirflowAuditTargetSnowflake(wrapped_target.FullReadMixin, TargetSnowflake):
        default_sink_class = AirflowAuditSnowflakeSink

    return AirflowAuditTargetSnowflake


def main(argv: list[str] | None = None) -> None:
    wrapped_target.run(PROG, argv, target_config=snowflake_target_config, target_class=target_class)


if __name__ == "__main__":
    main()
