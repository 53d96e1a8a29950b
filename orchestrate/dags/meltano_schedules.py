"""One Airflow DAG per Meltano schedule of the project, each job task a `meltano run`.

Each task runs `meltano run <the job task's blocks>` with the schedule's env, through
AirflowMetadataSyncOperator without a connection: the warehouse is configured by the worker's
AIRFLOW_AUDIT_* variables, the source is Airflow's own database (see orchestrate/README.md).

With AIRFLOW_AUDIT_ALERTS_NOTIFIER set, each DAG ends with a `notify_alerts` task that sends the
alerts the build raised (rpt_alerts.is_new) through that Airflow notifier.

The schedules come from schedules.json, the export of `meltano schedule list --format=json`
that `make schedules` (orchestrate/export_schedules.py) writes and the tests keep in step with
orchestrate/schedules.meltano.yml. Parsing this file reads that JSON and nothing else: no
database, no subprocess, no network.
"""

from __future__ import annotations

from pathlib import Path

from airflow_audit_operator import AirflowAuditAlertsOperator, AirflowMetadataSyncOperator
from airflow_audit_operator.alerts import notifier_from_environment
from airflow_audit_operator.compat import DAG
from airflow_audit_operator.dag_specs import (
    START_DATE,
    TAG,
    default_args,
    load_schedules,
)

SCHEDULES = Path(__file__).with_name("schedules.json")
# AIRFLOW_AUDIT_ALERTS_NOTIFIER set (smtp, slack, slack_webhook): each DAG ends by sending the
# alerts its build raised (airflow_audit_operator/alerts.py says which settings each needs).
NOTIFIER = notifier_from_environment()

for spec in load_schedules(SCHEDULES):
    with DAG(
        dag_id=spec.dag_id,
        description=f"Meltano schedule {spec.name}: job {spec.job}",
        schedule=spec.schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=default_args(),
        tags=[TAG, "meltano-schedule", f"job:{spec.job}"],
    ) as generated:
        previous = None
        for task_id, blocks in zip(spec.task_ids(), spec.tasks, strict=True):
            # As `meltano run` on the worker would: the warehouse from the worker's own
            # AIRFLOW_AUDIT_* variables (no connection); the source as the operator finds it.
            task = AirflowMetadataSyncOperator(
                task_id=task_id,
                meltano_run=[blocks],
                env=spec.env,
                service_connection_name=None,
            )
            if previous is not None:
                previous >> task
            previous = task
        if NOTIFIER is not None and previous is not None:
            previous >> AirflowAuditAlertsOperator(
                task_id="notify_alerts", notifier=NOTIFIER, env=spec.env
            )
    globals()[spec.dag_id] = generated
