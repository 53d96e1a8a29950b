"""tap-airflow-metadb: tap-postgres scoped to Airflow's metadata tables, secrets excluded."""
