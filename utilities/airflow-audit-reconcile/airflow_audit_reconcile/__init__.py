"""airflow-audit-reconcile: after every sync, prove the warehouse equals the source (compare.py);
the command line is cli.py; each warehouse's side lives in its loader folder."""
