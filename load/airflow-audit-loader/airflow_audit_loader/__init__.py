"""Loaders of airflow-audit: where the Airflow metadata lands, and under which name."""
