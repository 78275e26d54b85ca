{#-
    Every client's lifecycle, week by week (UTC weeks from Monday; a client is active in a week with a kept
    session, int_clients_weekly_active): new (its first active week), retained (active this week and the one
    before), returning (active this week, not the one before, but earlier), churned (active the week before, not
    this one). Counts per week; a plain table (a client's week depends on the week before).
-#}
with

activity as (
    select
        client_id,
        activity_week
    from {{ ref('int_clients_weekly_active') }}
),

weeks as (
    select
        client_id,
        activity_week,
        lag(activity_week) over (partition by client_id order by activity_week) as previous_week,
        lead(activity_week) over (partition by client_id order by activity_week) as next_week
    from activity
),

states as (
    select
        activity_week,
        case
            when previous_week is null then 'new'
            when previous_week = activity_week - 7 then 'retained'
            else 'returning'
        end as state
    from weeks
    union all
    -- churned the week after the last of a run of active weeks (until the newest week with data)
    select
        activity_week + 7 as activity_week,
        'churned' as state
    from weeks
    where
        (next_week is null or next_week > activity_week + 7)
        and activity_week + 7 <= (select max(newest.activity_week) from activity as newest)
),

final as (
    select
        activity_week,
        (count(*) filter (where state = 'new'))::integer as new_clients,
        (count(*) filter (where state = 'retained'))::integer as retained_clients,
        (count(*) filter (where state = 'returning'))::integer as returning_clients,
        (count(*) filter (where state = 'churned'))::integer as churned_clients,
        (count(*) filter (where state <> 'churned'))::integer as active_clients
    from states
    group by activity_week
)

select * from final
