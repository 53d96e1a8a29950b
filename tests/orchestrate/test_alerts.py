"""The notifier task's settings and message, without Airflow (the task itself runs in real Airflow
in test_airflow.py)."""

from __future__ import annotations

import pytest

from airflow_audit_operator.alerts import alerts_html, alerts_text, notifier_from_environment
from airflow_audit_operator.connection_settings import SettingsError

ALERTS = [
    {
        "severity": "critical",
        "raised_at": "2025-06-01 10:00:00",
        "alert_kind": "access_change",
        "dag_id": None,
        "message": "User <alice> granted Admin by bob",
    },
    {
        "severity": "warning",
        "raised_at": "2025-06-01 11:00:00",
        "alert_kind": "failure_streak",
        "dag_id": "etl",
        "message": "DAG etl failed its last 3 runs",
    },
]


def test_no_notifier_without_the_setting():
    assert notifier_from_environment({}) is None
    assert notifier_from_environment({"AIRFLOW_AUDIT_ALERTS_NOTIFIER": " "}) is None


@pytest.mark.parametrize(
    ("environ", "sentence"),
    [
        (
            {"AIRFLOW_AUDIT_ALERTS_NOTIFIER": "pager"},
            "AIRFLOW_AUDIT_ALERTS_NOTIFIER is 'pager': set it to one of smtp, slack, "
            "slack_webhook, or leave it empty and give AirflowAuditAlertsOperator a notifier of "
            "your own.",
        ),
        (
            {"AIRFLOW_AUDIT_ALERTS_NOTIFIER": "smtp"},
            "AIRFLOW_AUDIT_ALERTS_NOTIFIER is smtp but AIRFLOW_AUDIT_ALERTS_TO is empty: set it "
            "to the addresses to send the alerts to (comma-separated).",
        ),
    ],
)
def test_a_bad_notifier_setting_is_one_sentence(environ, sentence):
    with pytest.raises(SettingsError) as raised:
        notifier_from_environment(environ)
    assert str(raised.value) == sentence


def test_the_message_holds_every_alert_escaped():
    text = alerts_text(ALERTS)
    assert text.splitlines() == [
        "[critical] 2025-06-01 10:00:00  User <alice> granted Admin by bob",
        "[warning] 2025-06-01 11:00:00  DAG etl failed its last 3 runs",
    ]
    html = alerts_html(ALERTS)
    assert "User &lt;alice&gt; granted Admin by bob" in html and "<alice>" not in html
    assert html.count("<tr>") == 3  # the header and one row per alert
