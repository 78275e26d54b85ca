-- Every session's event_count equals its events in fct_events, and no event is outside a session.
with

counted as (
    select
        session_key,
        count(*) as events
    from {{ ref('fct_events') }}
    group by session_key
),

sessions as (
    select
        session_key,
        event_count
    from {{ ref('fct_sessions') }}
)

select
    coalesce(sessions.session_key, counted.session_key) as session_key,
    sessions.event_count,
    counted.events
from sessions
full outer join counted on sessions.session_key = counted.session_key
where sessions.event_count is distinct from counted.events
