"""What leaves the Airflow database: the default tables, and the secrets that never do.

This module is the one place the secret columns are listed; the README's "Secrets" section
and the tests read it.  A column listed here is never read into a Singer message, whichever
tables a user selects and whatever catalog Meltano passes; where it helps an audit, a boolean
flag is sent instead of the value (computed inside the tap, the value itself never emitted).
"""

from __future__ import annotations

# The tables the Datacoves Airflow sync operator copies by default.
DEFAULT_TABLES: tuple[str, ...] = (
    "ab_permission",
    "ab_role",
    "ab_user",
    "dag",
    "dag_run",
    "dag_tag",
    "import_error",
    "job",
    "task_fail",
    "task_instance",
)

# Default tables that some Airflow versions simply do not have: skipped with a notice.
VERSION_OPTIONAL_TABLES: dict[str, str] = {
    "task_fail": "Airflow 3 removed task_fail (failures are in task_instance and task_instance_history)",
    "ab_permission": "the FAB auth tables exist only with the FAB auth manager (apache-airflow-providers-fab on Airflow 3)",
    "ab_role": "the FAB auth tables exist only with the FAB auth manager (apache-airflow-providers-fab on Airflow 3)",
    "ab_user": "the FAB auth tables exist only with the FAB auth manager (apache-airflow-providers-fab on Airflow 3)",
}

# Tables that are never part of "every table": Alembic's bookkeeping is not audit data.
NEVER_SYNCED: frozenset[str] = frozenset({"alembic_version", "alembic_version_fab"})

# table -> column -> why it never leaves.  Airflow 2 and 3 names together.
SECRET_COLUMNS: dict[str, dict[str, str]] = {
    "ab_user": {"password": "password hash"},
    "ab_register_user": {
        "password": "password hash",
        "registration_hash": "registration token",
    },
    "connection": {
        "password": "connection password",
        "extra": "connection extras (tokens, keys, key files)",
    },
    "connection_test_request": {
        "password": "connection password (Airflow 3)",
        "extra": "connection extras (Airflow 3)",
        "token": "request token (Airflow 3)",
    },
    "variable": {"val": "variable value"},
    "session": {"data": "web session data"},
    "xcom": {"value": "task data passed between tasks"},
    "rendered_task_instance_fields": {
        "rendered_fields": "rendered templates (may hold resolved secrets)",
        "k8s_pod_yaml": "rendered pod spec (may hold environment secrets)",
    },
    "trigger": {"kwargs": "trigger arguments (may hold credentials)"},
    "dag_run": {"conf": "run configuration passed by the user"},
    "callback_request": {"callback_data": "pickled callback payload (Airflow 2)"},
    "callback": {"data": "callback payload (Airflow 3)"},
    "task_instance": {
        "executor_config": "pickled executor config (may hold pod specs)",
        "next_kwargs": "arguments a deferred task resumes with (may hold trigger payloads)",
    },
    "task_instance_history": {
        "executor_config": "pickled executor config",
        "next_kwargs": "arguments a deferred task resumed with",
    },
    "task_state_store": {"value": "task state values (Airflow 3)"},
    "asset_state_store": {"value": "asset state values (Airflow 3)"},
    "dag_pickle": {"pickle": "pickled DAG objects (Airflow 2)"},
}

# table -> flag column -> the secret column it says something about (never its value).
SECRET_FLAGS: dict[str, dict[str, str]] = {
    "ab_user": {"has_password": "password"},
    "connection": {"has_password": "password", "has_extra": "extra"},
}


def secret_columns(table: str) -> frozenset[str]:
    """The columns of `table` that never leave the database."""
    return frozenset(SECRET_COLUMNS.get(table, {}))
