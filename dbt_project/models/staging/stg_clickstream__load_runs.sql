{#- The loader's runs (raw.load_runs), for freshness displays. -#}
with

source as (
    select * from {{ source('raw', 'load_runs') }}
),

final as (
    select
        load_id,
        started_at,
        finished_at,
        status,
        trigger,
        objects,
        events,
        duplicates,
        rejected,
        failed_objects,
        error
    from source
)

select * from final
