-- Every session's event_count equals its events in fct_events, and no event is outside a session. Checked for the
-- sessions the latest run wrote and the sessions of the events it wrote (a run may rewrite a session without its
-- events: an order's status changed); every session with data_tests_scope 'all'.
{%- set latest_run = var('data_tests_scope') == 'latest_run' %}

with

latest_sessions as (
    select session_key
    from {{ ref('fct_sessions') }}
    {% if latest_run %}
    where dbt_processed_at >= (select max(latest.dbt_processed_at) from {{ ref('fct_sessions') }} as latest)
    {% endif %}
),

latest_event_sessions as (
    select distinct session_key
    from {{ ref('fct_events') }}
    {% if latest_run %}
    where dbt_processed_at >= (select max(latest.dbt_processed_at) from {{ ref('fct_events') }} as latest)
    {% endif %}
),

checked as (
    select session_key from latest_sessions
    union
    select session_key from latest_event_sessions
),

sessions as (
    select
        session_key,
        client_id,
        started_at,
        ended_at,
        event_count
    from {{ ref('fct_sessions') }}
    where session_key in (select checked.session_key from checked)
),

-- a session's events lie between its first and last event: counted per session through fct_events' (client_id,
-- event_at) index (a lateral join: the planner cannot know how few sessions the latest run wrote)
counted as (
    select
        sessions.session_key,
        session_events.events
    from sessions
    cross join lateral (
        select count(*) as events
        from {{ ref('fct_events') }} as events
        where
            events.client_id = sessions.client_id
            and events.event_at between sessions.started_at and sessions.ended_at
            and events.session_key = sessions.session_key
    ) as session_events
)

select
    checked.session_key,
    sessions.event_count,
    counted.events
from checked
left join sessions on checked.session_key = sessions.session_key
left join counted on checked.session_key = counted.session_key
where sessions.session_key is null or sessions.event_count is distinct from counted.events
