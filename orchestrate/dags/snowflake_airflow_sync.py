"""The Datacoves documentation's example DAG, on AirflowMetadataSyncOperator.

Once a year (00:00 on January 1st), copy the default tables plus `log` and `log_template` into
schema `airflow-tables`, with the warehouse credentials of the Airflow connection `raw`. Its
type picks the warehouse and the Meltano job: a `snowflake` connection runs
`airflow-audit-snowflake`, a `duckdb` one `airflow-audit`.
"""

from __future__ import annotations

from airflow_audit_operator import AirflowMetadataSyncOperator
from airflow_audit_operator.compat import dag
from airflow_audit_operator.dag_specs import START_DATE, default_args


@dag(
    schedule="0 0 1 */12 *",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    description="Sync the Airflow database to the warehouse of connection raw",
    tags=["version_1"],
)
def snowflake_airflow_sync() -> None:
    AirflowMetadataSyncOperator(
        task_id="airflow_sync",
        additional_tables=["log", "log_template"],
        destination_schema="airflow-tables",
        service_connection_name="raw",
    )


snowflake_airflow_sync()
