"""The alerts the latest sync raised, as the notifier task sends them (no Airflow import here
except where a notifier is built, so this is unit-tested in .venv).

* `alerts_text(alerts)` / `alerts_html(alerts)`: what the notifier's templates get, as
  `{{ airflow_audit_alerts_text }}` / `{{ airflow_audit_alerts_html }}`, with the list itself as
  `{{ airflow_audit_alerts }}`.
* `notifier_from_environment(environ)`: the notifier the generated DAGs use, from
  AIRFLOW_AUDIT_ALERTS_NOTIFIER (`smtp`, `slack`, `slack_webhook`; empty: no notifier task) and
  AIRFLOW_AUDIT_ALERTS_CONN_ID (the Airflow connection it sends through),
  AIRFLOW_AUDIT_ALERTS_TO / _FROM (smtp), AIRFLOW_AUDIT_ALERTS_CHANNEL (slack).  Any other
  notifier: pass it to AirflowAuditAlertsOperator yourself.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_audit_operator.connection_settings import SettingsError

NOTIFIERS = ("smtp", "slack", "slack_webhook")
SUBJECT = "airflow-audit: {{ airflow_audit_alerts | length }} new alert(s) from {{ dag.dag_id }}"


def alerts_text(alerts: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(f"[{a['severity']}] {a['raised_at']}  {a['message']}" for a in alerts)


def alerts_html(alerts: Sequence[Mapping[str, Any]]) -> str:
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(a.get(c) if a.get(c) is not None else ''))}</td>"
            for c in ("severity", "raised_at", "alert_kind", "dag_id", "message")
        )
        + "</tr>"
        for a in alerts
    )
    return (
        "<table><tr><th>severity</th><th>raised at (UTC)</th><th>kind</th><th>DAG</th>"
        f"<th>what happened</th></tr>{rows}</table>"
    )


def notifier_from_environment(environ: Mapping[str, str] = os.environ) -> Any | None:
    """The notifier AIRFLOW_AUDIT_ALERTS_* describe, or None when none is set."""
    kind = environ.get("AIRFLOW_AUDIT_ALERTS_NOTIFIER", "").strip().lower()
    if not kind:
        return None
    conn_id = environ.get("AIRFLOW_AUDIT_ALERTS_CONN_ID", "").strip() or None
    if kind == "smtp":
        to = [t.strip() for t in environ.get("AIRFLOW_AUDIT_ALERTS_TO", "").split(",") if t.strip()]
        if not to:
            raise SettingsError(
                "AIRFLOW_AUDIT_ALERTS_NOTIFIER is smtp but AIRFLOW_AUDIT_ALERTS_TO is empty: set "
                "it to the addresses to send the alerts to (comma-separated)."
            )
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        return SmtpNotifier(
            to=to,
            from_email=environ.get("AIRFLOW_AUDIT_ALERTS_FROM", "").strip() or None,
            smtp_conn_id=conn_id or "smtp_default",
            subject=SUBJECT,
            html_content="{{ airflow_audit_alerts_html }}",
        )
    if kind in ("slack", "slack_webhook"):
        try:
            from airflow.providers.slack.notifications import slack, slack_webhook
        except ImportError:
            raise SettingsError(
                f"AIRFLOW_AUDIT_ALERTS_NOTIFIER is {kind}, which needs Airflow's Slack provider: "
                "install apache-airflow-providers-slack on the workers, or choose smtp."
            ) from None
        if kind == "slack_webhook":
            return slack_webhook.SlackWebhookNotifier(
                slack_webhook_conn_id=conn_id or "slack_default",
                text="{{ airflow_audit_alerts_text }}",
            )
        channel = environ.get("AIRFLOW_AUDIT_ALERTS_CHANNEL", "").strip()
        if not channel:
            raise SettingsError(
                "AIRFLOW_AUDIT_ALERTS_NOTIFIER is slack but AIRFLOW_AUDIT_ALERTS_CHANNEL is empty: "
                "set it to the channel to post the alerts in, such as #airflow-audit."
            )
        return slack.SlackNotifier(
            slack_conn_id=conn_id or "slack_api_default",
            channel=channel,
            text="{{ airflow_audit_alerts_text }}",
        )
    raise SettingsError(
        f"AIRFLOW_AUDIT_ALERTS_NOTIFIER is {kind!r}: set it to one of {', '.join(NOTIFIERS)}, or "
        "leave it empty and give AirflowAuditAlertsOperator a notifier of your own."
    )
