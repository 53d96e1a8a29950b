"""target-airflow-audit-snowflake: the MeltanoLabs target-snowflake, under the project's rules.

Installed with `meltanolabs-target-snowflake` in one venv (load/snowflake.meltano.yml).  What
it adds to the real target: the raw schema AIRFLOW_<SLUG> (warehouses.raw_schema), mirror or
archive applied only after a complete full read (singer_shim, full_read), zoned timestamps
(TIMESTAMP_TZ) and UUIDs kept as written.
"""

from __future__ import annotations

from airflow_audit_loader import wrapped_target
from airflow_audit_loader.snowflake.settings import target_config as snowflake_target_config

PROG = "target-airflow-audit-snowflake"


def target_class() -> type:
    from target_snowflake.sinks import SnowflakeSink
    from target_snowflake.target import TargetSnowflake

    from airflow_audit_loader.snowflake.sdk_sql import apply_full_read

    class AirflowAuditSnowflakeSink(SnowflakeSink):
        def activate_version(self, new_version: int) -> None:
            apply_full_read(self, new_version)

    class AirflowAuditTargetSnowflake(wrapped_target.FullReadMixin, TargetSnowflake):
        default_sink_class = AirflowAuditSnowflakeSink

    return AirflowAuditTargetSnowflake


def main(argv: list[str] | None = None) -> None:
    wrapped_target.run(PROG, argv, target_config=snowflake_target_config, target_class=target_class)


if __name__ == "__main__":
    main()
