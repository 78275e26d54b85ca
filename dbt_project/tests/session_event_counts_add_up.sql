-- Every session's event_count equals its events in fct_events, and no event is outside a session (the latest
-- run's sessions and events: they are rebuilt together; every row with data_tests_scope 'all').
{%- set latest_run = var('data_tests_scope') == 'latest_run' %}

with

counted as (
    select
        session_key,
        count(*) as events
    from {{ ref('fct_events') }}
    {% if latest_run %}
    where dbt_processed_at >= (select max(latest.dbt_processed_at) from {{ ref('fct_events') }} as latest)
    {% endif %}
    group by session_key
),

sessions as (
    select
        session_key,
        event_count
    from {{ ref('fct_sessions') }}
    {% if latest_run %}
    where dbt_processed_at >= (select max(latest.dbt_processed_at) from {{ ref('fct_sessions') }} as latest)
    {% endif %}
)

select
    coalesce(sessions.session_key, counted.session_key) as session_key,
    sessions.event_count,
    counted.events
from sessions
full outer join counted on sessions.session_key = counted.session_key
where sessions.event_count is distinct from counted.events
