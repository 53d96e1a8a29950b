"""The history Airflow never records (issue #16), from changes made by Airflow itself.

A database made by each release's own `airflow db migrate`, a DAG put there and its code changed
by its own `dags reserialize` (seen through Airflow's own hash of the DAG), connections, variables
and (2.x, with its built-in FAB) users and roles changed by its own CLI between three syncs of the
whole job.  Each change is recorded exactly once, with what changed and who did it (the CLI logs
its command line), the state at the first sync is the baseline, not a change, a build with nothing
new adds nothing, and no value of a connection or a variable is anywhere in the warehouse: only
fingerprints, equal to the HMAC of the stored value.
"""

from __future__ import annotations

import getpass
import textwrap
from pathlib import Path

import duckdb
import psycopg2
import pytest

from tests.support import airflow_cli, airflow_db_migrate, encoded_forms, meltano, warehouse_hits
from tests.support.sync import assert_flags_equal_source, dbt_paths

pytestmark = pytest.mark.integration

RAW = "airflow-history"
MARTS = f"{RAW}_marts"
TABLES = ["connection", "variable", "log", "serialized_dag"]
FAB_TABLES = ["ab_user_role", "ab_permission_view", "ab_permission_view_role", "ab_view_menu"]
SECRETS = ["ZqHistPw1Wx", "ZqHistPw2Wx", "ZqHistVal1Wx", "ZqHistVal2Wx", "ZqHistVal3Wx"]

DAG_FILE = """
from datetime import datetime
from airflow import DAG
try:
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:
    from airflow.operators.empty import EmptyOperator

with DAG(
    "history_dag",
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["audit"],
    default_args={{"owner": "{owner}"}},
):
    for task_id in {tasks!r}:
        EmptyOperator(task_id=task_id)
"""


class Airflow:
    """One release's CLI on one database, with a DAG folder."""

    def __init__(self, version: str, url: str, home: Path) -> None:
        self.version, self.url, self.home = version, url, home
        (home / "dags").mkdir(parents=True)
        # Airflow writes a DAG's serialization at most once per [core]
        # min_serialized_dag_update_interval (30 s; airflow/dag_processing/collection.py): a
        # `dags reserialize` less than 30 s after the last one keeps the old DAG. Here a sync (20 to
        # 30 s) separates two changes of the DAG, so Airflow is told to write every one.
        (home / "airflow.cfg").write_text("[core]\nmin_serialized_dag_update_interval = 0\n")

    def __call__(self, *args: str) -> str:
        return airflow_cli(self.version, self.url, self.home, *args)

    def dag(self, owner: str, tasks: tuple[str, ...] = ("only",)) -> None:
        (self.home / "dags" / "history_dag.py").write_text(
            textwrap.dedent(DAG_FILE.format(owner=owner, tasks=tasks))
        )
        self("dags", "reserialize")

    def dag_hash(self) -> str:
        """Airflow's hash of the DAG as it last serialized it (3.x: the latest version's)."""
        conn = psycopg2.connect(self.url)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(
                    "select dag_hash from serialized_dag where dag_id = 'history_dag' "
                    "order by last_updated desc limit 1"
                )
                return cur.fetchone()[0]
        finally:
            conn.close()

    @property
    def has_fab(self) -> bool:
        return self.version.startswith("2.")


def sync(airflow: Airflow, root: Path, mode: str) -> None:
    env = {
        "AIRFLOW_AUDIT_SOURCE_URL": airflow.url,
        "AIRFLOW_AUDIT_DUCKDB_PATH": str(root / "w.duckdb"),
        "AIRFLOW_AUDIT_ENV_SLUG": "history",
        "AIRFLOW_AUDIT_ADDITIONAL_TABLES": ",".join(
            TABLES + (FAB_TABLES if airflow.has_fab else [])
        ),
        "AIRFLOW_AUDIT_MODE": mode,
        "MELTANO_DATABASE_URI": f"sqlite:///{root / 'meltano.db'}",
        **dbt_paths(root),
    }
    done = meltano("run", "airflow-audit", env=env)
    assert done.returncode == 0, done.stderr[-5000:]


def rows(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / "w.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def counts(root: Path) -> dict[str, int]:
    return {
        mart: rows(root, f'select count(*) from "{MARTS}".{mart}')[0][0]
        for mart in (
            "fct_connection_changes",
            "fct_variable_changes",
            "fct_access_changes",
            "dim_dags_history",
        )
    }


@pytest.mark.parametrize(("version", "mode"), [("2.10.5", "mirror"), ("3.3.2", "archive")])
def test_each_change_airflow_made_is_recorded_once(postgres, tmp_path, version, mode):
    url = postgres.create_database(f"history_{version.replace('.', '_')}")
    airflow = Airflow(version, url, tmp_path / "airflow-home")
    root = tmp_path / "warehouse"
    root.mkdir()
    me = getpass.getuser()

    airflow_db_migrate(url, version, airflow.home)
    airflow.dag(owner="team-a")
    conn_uri = "postgres://loader:{}@{}:5432/wh"
    airflow("connections", "add", "warehouse_pg", "--conn-uri", conn_uri.format(SECRETS[0], "db1"))
    airflow("variables", "set", "api_token", SECRETS[2])
    if airflow.has_fab:
        airflow("sync-perm")
        airflow(
            "users", "create", "-u", "alice", "-f", "A", "-l", "L", "-e", "a@example.org",
            "-r", "Viewer", "-p", "alice-pw-123456",
        )  # fmt: skip

    # 1: the baseline; nothing has changed yet
    sync(airflow, root, mode)
    assert counts(root) == {
        "fct_connection_changes": 0,
        "fct_variable_changes": 0,
        "fct_access_changes": 0,
        "dim_dags_history": 1,
    }
    assert rows(root, f'select is_baseline, is_paused from "{MARTS}".dim_dags_history') == [
        (True, True)  # dags_are_paused_at_creation
    ]

    hashes = [airflow.dag_hash()]

    # 2: a connection saved again with a new host and password, a variable edited, the DAG
    # unpaused and given a second task (its code: Airflow serializes it anew), a role granted
    airflow("connections", "delete", "warehouse_pg")
    airflow("connections", "add", "warehouse_pg", "--conn-uri", conn_uri.format(SECRETS[1], "db2"))
    airflow("variables", "set", "api_token", SECRETS[3])
    airflow("dags", "unpause", "history_dag")
    airflow.dag(owner="team-a", tasks=("only", "second"))
    hashes.append(airflow.dag_hash())
    if airflow.has_fab:
        airflow("users", "add-role", "-u", "alice", "-r", "Op")
    sync(airflow, root, mode)

    assert rows(
        root,
        "select conn_id, change_type, changed_fields, previous_host, host, changed_by, "
        f'changed_by_event from "{MARTS}".fct_connection_changes',
    ) == [("warehouse_pg", "changed", "host password", "db1", "db2", me, "cli_connections_add")]
    assert rows(
        root,
        "select variable_key, change_type, changed_fields, changed_by, changed_by_event "
        f'from "{MARTS}".fct_variable_changes',
    ) == [("api_token", "changed", "value", me, "cli_variables_set")]
    assert hashes[0] != hashes[1], "a second task: Airflow's own hash of the DAG changed"
    assert rows(
        root,
        "select change_type, changed_fields, is_paused, owners, is_current, code_hash "
        f'from "{MARTS}".dim_dags_history order by valid_from',
    ) == [
        (None, "", True, "team-a", False, hashes[0]),
        ("changed", "paused code", False, "team-a", True, hashes[1]),
    ]

    # 3: the DAG's owner changed, the variable deleted and another set, the role revoked
    airflow.dag(owner="team-b", tasks=("only", "second"))
    hashes.append(airflow.dag_hash())
    airflow("variables", "delete", "api_token")
    airflow("variables", "set", "feed_url", SECRETS[4])
    if airflow.has_fab:
        airflow("users", "remove-role", "-u", "alice", "-r", "Op")
    sync(airflow, root, mode)

    assert rows(
        root,
        "select variable_key, change_type, changed_fields, changed_by_event "
        f'from "{MARTS}".fct_variable_changes order by changed_at, variable_key',
    ) == [
        ("api_token", "changed", "value", "cli_variables_set"),
        ("api_token", "deleted", "", "cli_variables_delete"),
        ("feed_url", "created", "", "cli_variables_set"),
    ]
    assert rows(
        root,
        "select change_type, changed_fields, owners, is_paused, code_hash "
        f'from "{MARTS}".dim_dags_history order by valid_from',
    ) == [
        (None, "", "team-a", True, hashes[0]),
        ("changed", "paused code", "team-a", False, hashes[1]),
        # code: when Airflow's own hash changed (on 3.3.2 a new default owner alone leaves it)
        (
            "changed",
            "owners code" if hashes[2] != hashes[1] else "owners",
            "team-b",
            False,
            hashes[2],
        ),
    ]
    assert rows(root, f'select count(*) from "{MARTS}".fct_connection_changes') == [(1,)]
    if airflow.has_fab:
        assert rows(
            root,
            "select grant_kind, change_type, subject_name, object_name, changed_by, "
            f'changed_by_event from "{MARTS}".fct_access_changes order by changed_at',
        ) == [
            ("user_role", "granted", "alice", "Op", me, "cli_users_manage_role"),
            ("user_role", "revoked", "alice", "Op", me, "cli_users_manage_role"),
        ]
    else:  # 3.x without the FAB provider has no users or roles of its own
        assert counts(root)["fct_access_changes"] == 0

    # a build with nothing new records nothing new
    before = counts(root)
    sync(airflow, root, mode)
    assert counts(root) == before

    # no value of a connection or a variable anywhere; their fingerprints are the stored values'
    forms = {form: s for s in SECRETS for form in encoded_forms(s)}
    with duckdb.connect(str(root / "w.duckdb"), read_only=True) as con:
        assert warehouse_hits(con, set(forms)) == {}
    conn = psycopg2.connect(url)
    try:
        for table in ("connection", "variable"):
            assert_flags_equal_source(conn, root / "w.duckdb", RAW, table)
    finally:
        conn.close()
    fingerprints = rows(
        root, f'select count(distinct value_fingerprint) from "{RAW}_snapshots".snap_variables'
    )
    assert fingerprints == [(3,)]  # api_token twice, feed_url once
