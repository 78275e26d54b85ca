{#- Sessions kept out of every other mart: bot user agents, or longer than session_max_hours. -#}
{{ config(materialized='view') }}

with

sessions as (
    select * from {{ ref('int_sessions_aggregated') }}
),

final as (
    select
        session_key,
        client_id,
        started_at,
        ended_at,
        duration_seconds,
        event_count::integer as event_count,
        device_class,
        browser,
        landing_page_path,
        quarantine_reason
    from sessions
    where is_quarantined
)

select * from final
