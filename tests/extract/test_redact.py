"""Masking in the tap: the action log as each Airflow release writes it, free text, JSON."""

from __future__ import annotations

import base64
import json

import pytest

from tap_airflow_metadb.redact import (
    MASK,
    mask_cli_command,
    redact_json,
    redact_text,
    sanitise_log_extra,
)
from tests.fixtures.airflow_history import VERSIONS
from tests.fixtures.airflow_secret_carriers import (
    SECRETS,
    action_log_rows,
    connection_host_with_credentials,
    import_error_stacktrace,
    note_with_token,
    retry_reason_with_key,
)


def leaks(text: str | None) -> list[str]:
    text = text or ""
    return [
        name
        for name, secret in SECRETS.items()
        if secret in text
        or secret.encode().hex() in text
        or base64.b64encode(secret.encode()).decode()[:-4] in text
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_no_secret_survives_the_action_log_of_any_release(version):
    rows = action_log_rows(version, "crm_daily_etl")
    assert any(leaks(row.extra) for row in rows), "the corpus should hold secrets in clear"
    for row in rows:
        out = sanitise_log_extra(row.extra)
        assert leaks(out) == [], (row.event, out)
        # idempotent: a second pass (a re-sync of an archived row) changes nothing
        assert sanitise_log_extra(out) == out


@pytest.mark.parametrize("version", VERSIONS)
def test_what_an_audit_needs_survives(version):
    out = {
        r.event + str(i): sanitise_log_extra(r.extra)
        for i, r in enumerate(action_log_rows(version, "d1"))
    }
    text = "\n".join(v or "" for v in out.values())
    for kept in (
        "'connections', 'add', 'aws_audit_conn'",
        "'--conn-extra'",
        "partner_feed_cfg",
        "airflow-cli-7f9c",
    ):
        assert kept in text, kept
    assert "'variables', 'set', 'partner_feed_cfg', '***'" in text
    assert "'dags', 'trigger', 'd1', '-c', '***'" in text


def test_cli_options_and_positionals():
    argv = [
        "/bin/airflow",
        "connections",
        "add",
        "c1",
        "--conn-uri=postgresql://u:pw123456@h/db",
        "--conn-type",
        "pg",
    ]
    assert mask_cli_command(str(argv)) == str([*argv[:4], "--conn-uri=***", "--conn-type", "pg"])
    argv = ["airflow", "users", "create", "--password", "hunter2hunter2", "-u", "bob"]
    assert mask_cli_command(str(argv)) == str([*argv[:4], MASK, "-u", "bob"])
    argv = ["airflow", "tasks", "test", "d", "t", "2025-01-01", "-t", '{"k": "v"}']
    assert mask_cli_command(str(argv)) == str([*argv[:7], MASK])
    argv = ["airflow", "dags", "backfill", "d", "-s", "2025-01-01", "-e", "2025-01-02"]
    assert mask_cli_command(str(argv)) == str(argv)
    # not a Python list: treated as free text
    assert (
        mask_cli_command("airflow variables set k --json token=abcdefgh")
        == "airflow variables set k --json token=***"
    )


def test_web_ui_pairs_become_json_pairs_with_values_masked():
    extra = str(
        [("key", "partner_feed_cfg"), ("val", "plain-value-1"), ("description", ""), ("pk", "12")]
    )
    assert json.loads(sanitise_log_extra(extra)) == [
        ["key", "partner_feed_cfg"],
        ["val", MASK],
        ["description", ""],
        ["pk", "12"],
    ]


def test_unknown_keys_lose_their_values_booleans_and_nulls_stay():
    extra = json.dumps(
        {
            "connection_id": "c",
            "brand_new_field": "x" * 12,
            "nested": {"a": 1},
            "flag": True,
            "gone": None,
        }
    )
    assert json.loads(sanitise_log_extra(extra)) == {
        "connection_id": "c",
        "brand_new_field": MASK,
        "nested": MASK,
        "flag": True,
        "gone": None,
    }


def test_scheduler_text_is_kept():
    text = "Task did not emit heartbeat within time limit (300 seconds) and will be terminated."
    assert sanitise_log_extra(text) == text
    assert sanitise_log_extra(None) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://etl:s3cr3tpw@db:5432/x", "postgresql://etl:***@db:5432/x"),
        ("https://ghp_abcdefghijklmnopqrstuvwxyz0123@github.com/o/r", "https://***@github.com/o/r"),
        ("http://:tok-123456@hooks.slack.com", "http://:***@hooks.slack.com"),
        ("GET /v1?api_key=abc123456&page=2", "GET /v1?api_key=***&page=2"),
        ("{'password': 'pw-1234567'}", "{'password': '***'}"),
        ('"client_secret": "cs-1234567"', '"client_secret": "***"'),
        ("Authorization: Bearer abcdefghijkl", "Authorization: ***"),
        ("curl -H 'Bearer abcdefghijkl'", "curl -H 'Bearer ***'"),
        ("slack xoxb-1111-2222-abcdefghijkl said", "slack *** said"),
        ("key AKIAABCDEFGHIJKLMNOP used", "key *** used"),
        ("db.internal.example.com", "db.internal.example.com"),
        (
            "ModuleNotFoundError: No module named 'facebook_business'",
            "ModuleNotFoundError: No module named 'facebook_business'",
        ),
    ],
)
def test_free_text(text, expected):
    assert redact_text(text) == expected


def test_carriers_outside_the_log():
    for text in (
        import_error_stacktrace("/opt/airflow/dags/x.py"),
        connection_host_with_credentials(),
        note_with_token(),
        retry_reason_with_key(),
    ):
        assert leaks(text), "the carrier should hold a secret"
        assert leaks(redact_text(text)) == []
    assert "api.partner-audit.example.org" in redact_text(connection_host_with_credentials())
    assert redact_text(retry_reason_with_key()).startswith(
        "PartnerFeedRetryPolicy: 429 Client Error: Too Many Requests for url: "
        "https://api.partner-audit.example.org/v1/feed?api_key=***"
    )
    assert "/opt/airflow/dags/x.py" in redact_text(
        import_error_stacktrace("/opt/airflow/dags/x.py")
    )


def test_json_documents():
    doc = {
        "endpoint": "https://u:pw-123456@h",
        "nested": {"api_key": "k-1234567", "region": "eu"},
        "n": 3,
    }
    assert redact_json(doc) == {
        "endpoint": "https://u:***@h",
        "nested": {"api_key": MASK, "region": "eu"},
        "n": 3,
    }


def test_skipping_the_patterns_that_cannot_match_masks_the_same():
    """redact_text runs the URL and key=value patterns only on text that can hold a match (an
    `@`, a secret word): on random text made of Airflow's words, secret words, URLs and tokens,
    the same result as all four patterns run on every text."""
    import random

    from tap_airflow_metadb import redact

    def every_pattern(text: str) -> str:
        text = redact._TOKEN_SHAPES.sub(MASK, text)
        text = redact._URL_USERINFO.sub(redact._mask_userinfo, text)
        text = redact._BEARER.sub(lambda m: f"{m.group('scheme')}{MASK}", text)
        return redact._KEY_VALUE.sub(redact._mask_value, text)

    pieces = [
        "airflow-worker-3.airflow.svc.cluster.local",
        "tasks",
        "run",
        "--conn-password",
        "pw1",
        "postgres://etl:Zq1@db:5432/x",
        "https://tok@github.com",
        "user@example.com",
        "@",
        "password=hunter2",
        '"api_key": "abc"',
        "Authorization: Bearer abcdefgh12345",
        "Token",
        "xoxb-1234567890-abc",
        "AKIAABCDEFGHIJKLMNOP",
        "sk-" + "a" * 24,
        " ",
        ",",
        "=",
        ":",
        "'",
        '"',
        "\n",
        "session",
        "PassWord",
        "-----BEGIN RSA PRIVATE KEY-----",
        "é",
    ]
    rng = random.Random(3)
    texts = ["".join(rng.choices(pieces, k=rng.randrange(1, 12))) for _ in range(5000)]
    assert sum(1 for t in texts if not redact._SECRET_KEY.search(t) and "@" not in t) > 500
    assert [redact_text(t) for t in texts] == [every_pattern(t) for t in texts]
    assert sum(1 for t in texts if MASK in redact_text(t)) > 500
