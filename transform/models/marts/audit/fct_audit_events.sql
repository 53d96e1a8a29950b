{#- One row per entry of Airflow's audit log (`log`): who did what, to which DAG, task and run, and when.

    event is Airflow's own name, which differs between versions for the same action: the UI's
    `trigger` and the REST API's `dag_run.create` (2.7) / `post_dag_run` (2.9, 2.10) / `trigger_dag_run`
    (3.x); 2.9+ prefixes REST API calls with `api.` (and UI calls through the API with `ui.`); CLI commands
    are `cli_<command>` everywhere. event_category maps them to one vocabulary, the same on every version:

    trigger           start runs: UI/API/CLI trigger, backfills, asset materialization
    pause_unpause     pause or unpause a DAG (UI toggle, API patch, CLI, auto-pause after failures)
    clear             clear DAG runs or task instances
    mark_state        set the state of a DAG run or task instance (mark success/failed, API patch)
    delete            delete a DAG, DAG run, task instance or XCom
    variable_change   create, edit, import or delete variables
    connection_change create, edit, import or delete connections
    pool_change       create, edit, import or delete pools
    user_change       create, delete or change users and roles (CLI; FAB's UI does not log)
    login             token issued to a user (Airflow 3's /auth/token); FAB logins are not logged
    cli_run           any other CLI command (`airflow tasks run` on 2.x workers, scheduler start ...)
    task_lifecycle    a task try changing state (running, success, failed, up_for_retry ...) and the
                      scheduler's interventions (stuck in queued, heartbeat timeout ...)
    other             everything else (page views on 2.4-2.7, notes, asset events ...)

    Task lifecycle rows and 2.x UI "mark success/failed" share the names `success` / `failed`: the
    lifecycle rows name a task instance (map_index set), the UI's do not. -#}

{%- set partitions = airflow_audit_partitioned('airflow_audit_log_partitions') -%}

with

logs as (

    select * from {{ ref('stg_airflow__logs') }}
    where {{ airflow_audit_in_partitions(partitions, 'log_id') }}

),

normalized as (

    select
        *,
        -- 2.9+ prefixes actions that came through the REST API
        case
            when lower(event) like 'api.%' then substr(lower(event), 5)
            when lower(event) like 'ui.%' then substr(lower(event), 4)
            else lower(event)
        end as event_action

    from logs

),

categorized as (

    select
        *,
        case
            when
                event_action in (
                    'trigger', 'dag_run.create', 'post_dag_run', 'trigger_dag_run', 'cli_dag_trigger',
                    'cli_dag_backfill', 'create_backfill', 'cli_create_backfill', 'materialize_asset',
                    'cli_asset_materialize'
                )
                then 'trigger'
            when
                event_action in (
                    'paused', 'patch_dag', 'patch_dags', 'cli_dag_pause', 'cli_dag_unpause', 'pause_backfill',
                    'unpause_backfill'
                )
                then 'pause_unpause'
            when
                event_action in (
                    'clear', 'dagrun_clear', 'action_clear', 'action_clear_downstream', 'clear_dag_run',
                    'clear_dag_runs', 'clear_dag_run_partitions', 'post_clear_task_instances', 'cli_task_clear',
                    'cli_dag_clear', 'cli_clear'
                )
                then 'clear'
            when event_action in ('success', 'failed')
                then case when map_index is null then 'mark_state' else 'task_lifecycle' end
            when
                event_action in (
                    'confirm', 'dagrun_success', 'dagrun_failed', 'dagrun_queued', 'action_set_success',
                    'action_set_failed', 'action_set_retry', 'action_set_skipped', 'action_set_running',
                    'action_set_queued', 'dagrun.edit', 'taskinstance.edit', 'update_dag_run_state',
                    'post_set_task_instances_state', 'patch_task_instance', 'patch_mapped_task_instance',
                    'patch_task_group_instances', 'patch_dag_run', 'bulk_dag_runs', 'bulk_task_instances'
                )
                then 'mark_state'
            when
                event_action in (
                    'delete', 'delete_dag', 'cli_dag_delete', 'delete_dag_run', 'dagrun.delete',
                    'taskinstance.delete', 'action_muldelete', 'xcom.delete', 'delete_xcom_entry'
                )
                then 'delete'
            when
                event_action like 'variable.%' or event_action in (
                    'post_variable', 'post_variables', 'patch_variable', 'delete_variable', 'bulk_variables',
                    'cli_variables_set', 'cli_variables_delete', 'cli_variables_import'
                )
                then 'variable_change'
            when
                event_action like 'connection.%' or event_action in (
                    'post_connection', 'patch_connection', 'delete_connection', 'bulk_connections',
                    'create_default_connections', 'cli_connections_add', 'cli_connections_delete',
                    'cli_connections_import', 'cli_create_default_connections'
                )
                then 'connection_change'
            when
                event_action like 'pool.%' or event_action in (
                    'post_pool', 'patch_pool', 'delete_pool', 'bulk_pools', 'cli_pool_set', 'cli_pool_delete',
                    'cli_pool_import'
                )
                then 'pool_change'
            when
                (event_action like 'cli_user%' or event_action like 'cli_role%')
                and event_action not like '%list'
                and event_action not like '%export'
                then 'user_change'
            when event_action in ('login', 'logout', 'generate_token') then 'login'
            when event_action like 'cli_%' then 'cli_run'
            when
                event_action in (
                    'running', 'up_for_retry', 'up_for_reschedule', 'skipped', 'upstream_failed', 'deferred',
                    'queued', 'scheduled', 'restarting', 'removed', 'shutdown', 'stuck in queued',
                    'stuck in queued reschedule', 'stuck in queued tries exceeded', 'heartbeat timeout',
                    'state mismatch', 'task launch failure', 'fail task', 'skip task'
                )
                then 'task_lifecycle'
            else 'other'
        end as event_category

    from normalized

),

final as (

    select
        log_id as audit_event_id,
        logged_at as event_at,
        event,
        event_action,
        event_category,
        owner as actor,
        owner_display_name as actor_display_name,
        dag_id,
        task_id,
        run_id,
        map_index,
        try_number,
        logical_at,
        case
            when dag_id is not null and run_id is not null
                then {{ airflow_audit_surrogate_key(['dag_id', 'run_id']) }}
        end as dag_run_key,
        extra,
        is_deleted_at_source,
        deleted_at_source_at,
        {{ airflow_audit_built_at() }} as airflow_audit_built_at

    from categorized

)

select * from final
