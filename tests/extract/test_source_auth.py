"""Connections the way Airflow deployments connect (issue #16): no password in the URL.

A throwaway PostgreSQL of its own, configured as such deployments are: trust over its Unix socket
for one user, a password kept in a .pgpass file for another, client certificates (`cert`
authentication over TLS, a CA the test makes with openssl) for a third, and a password a command
prints (an IAM token's shape). For each, the whole sync of the default tables runs and every
table's rows equal the source's; `sslmode=verify-full` against the wrong CA, and a server asking
for a password nobody gave, end in one sentence.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import duckdb
import psycopg2
import pytest

from tests.fixtures.airflow_history import fill, load_schema
from tests.fixtures.postgres import ThrowawayPostgres
from tests.support import TEST_FILL, meltano, source_query

pytestmark = pytest.mark.integration

VERSION = "2.10.5"
DB = "airflow_auth"
PASSWORD = "pgpass-only-password"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(folder: Path) -> None:
    """A CA, a server certificate for 127.0.0.1, a client certificate for cert_user, and a second
    CA that signed nothing here."""
    folder.mkdir(parents=True)
    for ca in ("ca", "other_ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-subj", f"/CN={ca}", cwd=folder)  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, subject in (("server", "/CN=127.0.0.1"), ("client", "/CN=cert_user")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", "-subj", subject, cwd=folder)  # fmt: skip
        extra = ["-extfile", "san.ext"] if name == "server" else []
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", *extra, cwd=folder)  # fmt: skip
    for key in folder.glob("*.key"):
        key.chmod(0o600)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The server, its socket directory, and the certificates, with the three users."""
    base = tmp_path_factory.mktemp("auth-pg")
    certs = base / "certs"
    make_certificates(certs)
    pg = ThrowawayPostgres(base / "pg", use_env=False)
    pg.start()
    # the server reads its own copies, owned by the user it runs as
    server_certs = pg.data_dir / "tls"
    server_certs.mkdir()
    for name in ("server.crt", "server.key", "ca.crt"):
        shutil.copy(certs / name, server_certs / name)
    if os.geteuid() == 0:
        for path in [server_certs, *server_certs.iterdir()]:
            os.chown(path, pg._uid, pg._gid)
    (server_certs / "server.key").chmod(0o600)
    url = pg.create_database(DB)
    load_schema(url, VERSION)
    fill(url, VERSION, **TEST_FILL)
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("create role trusty login")
        cur.execute(f"create role pgpass_user login password '{PASSWORD}'")
        cur.execute("create role cert_user login")
        for role in ("trusty", "pgpass_user", "cert_user"):
            cur.execute(f"grant select on all tables in schema public to {role}")
    conn.close()
    hba = pg.data_dir / "pg_hba.conf"
    hba.write_text(
        "local all trusty trust\n"
        "hostssl all cert_user 127.0.0.1/32 cert\n"
        "host all pgpass_user 127.0.0.1/32 scram-sha-256\n" + hba.read_text()
    )
    pg.settings.update(
        ssl="on",
        ssl_cert_file=f"'{server_certs / 'server.crt'}'",
        ssl_key_file=f"'{server_certs / 'server.key'}'",
        ssl_ca_file=f"'{server_certs / 'ca.crt'}'",
    )
    pg.stop(remove_data=False)
    pg.start()
    yield {"pg": pg, "certs": certs, "socket": str(pg.data_dir), "admin_url": url}
    pg.stop()


def sync(tmp_path: Path, url: str, **env: str):
    warehouse = tmp_path / "w.duckdb"
    done = meltano(
        "run",
        "tap-airflow-metadb",
        "target-airflow-audit-duckdb",
        env={
            "AIRFLOW_AUDIT_SOURCE_URL": url,
            "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse),
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
            **env,
        },
    )
    return done, warehouse


def assert_synced(done, warehouse: Path, admin_url: str) -> None:
    assert done.returncode == 0, done.stderr[-4000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table in ("dag", "dag_run", "task_instance", "job", "ab_user"):
            got = con.execute(f'select count(*) from "airflow-local"."{table}"').fetchone()[0]
            assert got == source_query(admin_url, f"select count(*) from {table}")[0][0], table
            assert got > 0, table


def test_trust_over_the_unix_socket_needs_no_password(server, tmp_path):
    url = f"postgresql://trusty@/{DB}?host={quote(server['socket'], safe='')}&port={server['pg'].port}"
    done, warehouse = sync(tmp_path, url)
    assert_synced(done, warehouse, server["admin_url"])


def test_the_password_comes_from_a_pgpass_file(server, tmp_path):
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{server['pg'].port}:{DB}:pgpass_user:{PASSWORD}\n")
    passfile.chmod(0o600)
    url = f"postgresql://pgpass_user@127.0.0.1:{server['pg'].port}/{DB}"
    done, warehouse = sync(tmp_path, url, PGPASSFILE=str(passfile))
    assert_synced(done, warehouse, server["admin_url"])
    assert PASSWORD not in done.stdout + done.stderr


def test_a_client_certificate_with_verify_full(server, tmp_path):
    certs = server["certs"]
    url = (
        f"postgresql://cert_user@127.0.0.1:{server['pg'].port}/{DB}?sslmode=verify-full"
        f"&sslrootcert={certs / 'ca.crt'}&sslcert={certs / 'client.crt'}"
        f"&sslkey={certs / 'client.key'}"
    )
    done, warehouse = sync(tmp_path, url)
    assert_synced(done, warehouse, server["admin_url"])


def test_the_password_a_command_prints(server, tmp_path):
    token = tmp_path / "token"
    token.write_text(PASSWORD + "\n")
    url = f"postgresql://pgpass_user@127.0.0.1:{server['pg'].port}/{DB}"
    done, warehouse = sync(tmp_path, url, AIRFLOW_AUDIT_SOURCE_PASSWORD_CMD=f"cat {token}")
    assert_synced(done, warehouse, server["admin_url"])
    assert PASSWORD not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("case", "sentence"),
    [
        ("no password", "asks user 'pgpass_user' for a password and none was given"),
        ("wrong CA", "The TLS connection to the Airflow database 127.0.0.1:"),
        ("failing command", "AIRFLOW_AUDIT_SOURCE_PASSWORD_CMD did not print a password"),
    ],
)
def test_what_cannot_connect_is_one_sentence(server, tmp_path, case, sentence):
    port, certs = server["pg"].port, server["certs"]
    env: dict[str, str] = {"PGPASSFILE": str(tmp_path / "none")}
    if case == "no password":
        url = f"postgresql://pgpass_user@127.0.0.1:{port}/{DB}"
    elif case == "wrong CA":
        url = (
            f"postgresql://cert_user@127.0.0.1:{port}/{DB}?sslmode=verify-full"
            f"&sslrootcert={certs / 'other_ca.crt'}&sslcert={certs / 'client.crt'}"
            f"&sslkey={certs / 'client.key'}"
        )
    else:
        url = f"postgresql://pgpass_user@127.0.0.1:{port}/{DB}"
        env["AIRFLOW_AUDIT_SOURCE_PASSWORD_CMD"] = "echo 'vault sealed' >&2; exit 3"
    done, warehouse = sync(tmp_path, url, **env)
    assert done.returncode != 0
    assert sentence in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    if warehouse.exists():  # the loader may have opened it: nothing was written
        with duckdb.connect(str(warehouse), read_only=True) as con:
            assert con.execute("select count(*) from duckdb_tables()").fetchone()[0] == 0


# -- Airflow's own ways of giving its database URL (no server needed) -----------------------------


def test_airflow_s_cmd_form_gives_the_url():
    from tap_airflow_metadb.source import resolve_source_url

    url = resolve_source_url(
        None,
        {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD": "echo postgresql+psycopg2://airflow@db:5432/af"
        },
    )
    assert (url.host, url.port, url.database, url.username, url.password) == (
        "db", 5432, "af", "airflow", None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("environ", "sentence"),
    [
        (
            {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_SECRET": "airflow/metadb"},
            "Airflow reads its database URL from a secrets backend "
            "(AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_SECRET), which only Airflow itself can query: "
            "run the sync through the project's Airflow operator or DAGs (they ask Airflow), or "
            "set AIRFLOW_AUDIT_SOURCE_URL.",
        ),
        (
            {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD": "exit 4"},
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD did not print Airflow's database URL "
            "(exit code 4): fix the command; nothing was read.",
        ),
    ],
)
def test_what_airflow_alone_can_resolve_is_one_sentence(environ, sentence):
    from airflow_audit_core.errors import UserError
    from tap_airflow_metadb.source import resolve_source_url

    with pytest.raises(UserError) as raised:
        resolve_source_url(None, environ)
    assert str(raised.value) == sentence
