{#- The ETL's runs for the dashboard (marts is all it reads): load, shop sync, dbt build and health checks. -#}
{{ config(materialized='view') }}

with

runs as (
    select
        etl_run_id,
        started_at,
        finished_at,
        status,
        trigger,
        load_status,
        objects,
        events,
        rejected,
        shop_status,
        models_ok,
        models_failed,
        tests_failed,
        health_status,
        health_failures,
        freshness_status,
        seconds,
        message
    from {{ ref('stg_clickstream__etl_runs') }}
),

final as (
    select * from runs
)

select * from final
