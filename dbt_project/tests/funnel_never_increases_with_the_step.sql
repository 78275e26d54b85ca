-- A funnel step never has more sessions than the step before it.
with

steps as (
    select
        date_day,
        device_class,
        login_state,
        step_order,
        sessions,
        lag(sessions) over (partition by date_day, device_class, login_state order by step_order) as previous_sessions
    from {{ ref('funnel_daily') }}
)

select * from steps
where sessions > previous_sessions
