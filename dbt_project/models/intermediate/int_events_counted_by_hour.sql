{#-
    Every event per UTC hour of its event time, bots' and zombies' too (the data health monitor counts what the
    tracker sent, not what the marts keep): events by name, in quarantined sessions, from bot user agents, and
    received late. Only hours that hold events have a row.

    Incremental by hour: a run recomputes the hours of every window the sessionizer recomputed (new events, the old
    place of a moved event, sessions that became zombies), quarantined sessions included, so late events of any age
    land exactly where a full build puts them. A zombie tab's window spans its whole session: its hours are
    recomputed while it grows.
-#}
{{ incremental_by_period('hour', counts_quarantined=true, indexes=[{'columns': ['hour_at'], 'unique': true}]) }}

{%- set late_after = "interval '" ~ var('health_late_minutes') ~ " minutes'" %}

with

staged as (
    select
        event_id,
        event_at,
        received_at,
        event_name,
        is_bot
    from {{ ref('stg_clickstream__events') }}
    where {{ in_changed_periods('event_at') }}
),

sessionized as (
    select
        event_id,
        session_key
    from {{ ref('int_events_sessionized') }}
),

sessions as (
    select
        session_key,
        is_quarantined
    from {{ ref('int_sessions_aggregated') }}
),

events as (
    select
        {{ utc_period_start('hour', 'staged.event_at') }} as hour_at,
        coalesce(staged.event_name, '') as event_name,
        staged.is_bot,
        sessions.is_quarantined,
        staged.received_at - staged.event_at > {{ late_after }} as is_late
    from staged
    inner join sessionized on staged.event_id = sessionized.event_id
    inner join sessions on sessionized.session_key = sessions.session_key
),

by_name as (
    select
        hour_at,
        event_name,
        count(*) as events,
        count(*) filter (where is_quarantined) as quarantined_events,
        count(*) filter (where is_bot) as bot_events,
        count(*) filter (where is_late) as late_events
    from events
    group by hour_at, event_name
),

final as (
    select
        hour_at,
        sum(events)::integer as events,
        {{ json_object_agg('event_name', 'events') }} as events_by_name,
        coalesce(sum(events) filter (where event_name = 'checkout_complete'), 0)::integer as checkout_complete_events,
        sum(quarantined_events)::integer as quarantined_events,
        sum(bot_events)::integer as bot_events,
        sum(late_events)::integer as late_events
    from by_name
    group by hour_at
)

select * from final
