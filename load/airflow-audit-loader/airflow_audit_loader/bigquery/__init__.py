"""bigquery: its target, its settings registry (settings.py) and its reconcile adapter."""
