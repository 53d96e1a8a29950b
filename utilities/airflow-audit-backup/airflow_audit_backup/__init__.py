"""airflow-audit-backup: take and verify pg_dump backups of the Airflow database."""
