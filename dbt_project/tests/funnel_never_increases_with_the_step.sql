-- A funnel step never has more sessions than the step before it, per day and per day and segment.
with

segments as (
    select
        'funnel_daily_by_segment' as model_name,
        date_day,
        device_class || '/' || login_state as segment,
        step_order,
        sessions
    from {{ ref('funnel_daily_by_segment') }}
),

days as (
    select
        'funnel_daily' as model_name,
        date_day,
        'all' as segment,
        step_order,
        sessions
    from {{ ref('funnel_daily') }}
),

steps as (
    select
        model_name,
        date_day,
        segment,
        step_order,
        sessions,
        lag(sessions) over (partition by model_name, date_day, segment order by step_order) as previous_sessions
    from (
        select * from segments
        union all
        select * from days
    ) as funnels
)

select * from steps
where sessions > previous_sessions
