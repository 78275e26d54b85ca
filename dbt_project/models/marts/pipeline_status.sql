{#- Freshness for the dashboard: the last load, when the marts were last rebuilt, the newest event. -#}
{{ config(materialized='view') }}

with

last_load as (
    select
        finished_at,
        status
    from {{ ref('stg_clickstream__load_runs') }}
    where finished_at is not null
    order by load_id desc
    limit 1
),

marts_refresh as (
    select max(updated_at) as refreshed_at
    from {{ ref('stg_dbt__watermarks') }}
    where model_name = 'fct_events'
),

newest_event as (
    select max(event_at) as event_at
    from {{ ref('fct_events') }}
),

final as (
    select
        last_load.finished_at as last_load_finished_at,
        last_load.status as last_load_status,
        marts_refresh.refreshed_at as marts_refreshed_at,
        newest_event.event_at as newest_event_at
    from newest_event
    cross join marts_refresh
    left join last_load on true
)

select * from final
