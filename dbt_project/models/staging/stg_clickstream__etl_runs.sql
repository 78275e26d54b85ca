{#- The ETL's runs (raw.etl_runs): load, shop sync, dbt build and health checks, one row per run. -#}
with

source as (
    select * from {{ source('raw', 'etl_runs') }}
),

final as (
    select
        etl_run_id,
        started_at,
        finished_at,
        status,
        trigger,
        load_id,
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
    from source
)

select * from final
