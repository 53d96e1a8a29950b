"""airflow-audit-report: a static audit report built from the marts."""
