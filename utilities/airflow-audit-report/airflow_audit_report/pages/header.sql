-- The environment's header: when it was last synced, and which Airflow wrote it (the extracts the
-- tap records with every table it reads).
-- name: synced
select
    max(extracted_at) as last_synced_at,
    max(airflow_version) as airflow_version
from {{ raw('_airflow_audit_extracts') }}
