{#-
    How sessions move between page types, ready for a Sankey diagram: per UTC day of session start, device
    class and login state, the count of sessions going from one step to the next at each position. A
    journey starts at 'session_start', repeats of the same step are collapsed, and it ends at 'exit'
    ('continues' when it is longer than journey_max_steps).
-#}
{{ incremental_by_period('day') }}

{%- set max_steps = var('journey_max_steps') %}

with

sessions as (
    select
        session_key,
        started_date as date_day,
        device_class,
        login_state
    from {{ ref('fct_sessions') }}
    where {{ in_changed_periods('started_at') }}
),

-- the journey steps: the seed page_types
page_types as (
    select
        event_name,
        page_type
    from {{ ref('page_types') }}
),

steps as (
    select
        events.session_key,
        events.event_at,
        events.event_id,
        page_types.page_type as step_name
    from {{ ref('fct_events') }} as events
    inner join page_types on events.event_name = page_types.event_name
    inner join sessions on events.session_key = sessions.session_key
    -- only events from the changed days on: keeps the scan off the whole history
    where events.event_at >= {{ first_changed_instant() }}
),

collapsed as (
    select
        session_key,
        event_at,
        event_id,
        step_name,
        lag(step_name) over (partition by session_key order by event_at, event_id) as previous_step_name
    from steps
),

numbered as (
    select
        session_key,
        step_name,
        row_number() over (partition by session_key order by event_at, event_id) as step_index
    from collapsed
    where previous_step_name is distinct from step_name
),

journeys as (
    select
        sessions.session_key,
        sessions.date_day,
        sessions.device_class,
        sessions.login_state,
        coalesce(max(numbered.step_index), 0) as step_count
    from sessions
    left join numbered on sessions.session_key = numbered.session_key
    group by sessions.session_key, sessions.date_day, sessions.device_class, sessions.login_state
),

path as (
    select
        journeys.session_key,
        0 as step_index,
        'session_start' as step_name
    from journeys
    union all
    select
        session_key,
        step_index,
        step_name
    from numbered
    where step_index <= {{ max_steps }}
    union all
    select
        session_key,
        least(step_count, {{ max_steps }}) + 1 as step_index,
        case when step_count > {{ max_steps }} then 'continues' else 'exit' end as step_name
    from journeys
),

transitions as (
    select
        session_key,
        step_index,
        step_name as from_step,
        lead(step_name) over (partition by session_key order by step_index) as to_step
    from path
),

final as (
    select
        journeys.date_day,
        journeys.device_class,
        journeys.login_state,
        transitions.step_index::integer as step_index,
        transitions.from_step,
        transitions.to_step,
        count(*)::integer as sessions
    from transitions
    inner join journeys on transitions.session_key = journeys.session_key
    where transitions.to_step is not null
    group by
        journeys.date_day, journeys.device_class, journeys.login_state,
        transitions.step_index, transitions.from_step, transitions.to_step
)

select * from final
