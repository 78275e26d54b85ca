{#-
    Weekly retention: clients grouped by the UTC week (Monday) of their first session, and how many of each
    cohort were active in each later week. Incremental by cells: a run recomputes every cohort's count for
    the weeks that changed, and every cell of the cohorts those weeks start (the only cohorts whose size can
    change), so its cost follows recent traffic, not history.
-#}
{{
    incremental_by_period(
        'week',
        period_columns=['activity_week', 'cohort_week'],
        indexes=[{'columns': ['cohort_week']}, {'columns': ['activity_week']}],
    )
}}

with

active_clients as (
    -- every client-week of the changed weeks, and every week of the cohorts those weeks start
    select
        clients.first_seen_week as cohort_week,
        weeks.activity_week,
        weeks.client_id
    from {{ ref('int_clients_weekly_active') }} as weeks
    inner join {{ ref('dim_clients') }} as clients on weeks.client_id = clients.client_id
    where {{ in_changed_periods('weeks.activity_week', cast='date') }}

    union

    select
        clients.first_seen_week as cohort_week,
        weeks.activity_week,
        weeks.client_id
    from {{ ref('dim_clients') }} as clients
    inner join {{ ref('int_clients_weekly_active') }} as weeks on clients.client_id = weeks.client_id
    where {{ in_changed_periods('clients.first_seen_week', cast='date') }}
),

active as (
    select
        cohort_week,
        activity_week,
        count(*) as active_clients
    from active_clients
    group by cohort_week, activity_week
),

cohort_sizes as (
    select
        first_seen_week as cohort_week,
        count(*) as cohort_size
    from {{ ref('dim_clients') }}
    where {{ in_subquery('first_seen_week', 'select active.cohort_week from active') }}
    group by first_seen_week
),

final as (
    select
        active.cohort_week,
        ({{ days_between('active.cohort_week', 'active.activity_week') }} / 7)::integer as weeks_since_first_visit,
        active.activity_week,
        cohort_sizes.cohort_size::integer as cohort_size,
        active.active_clients::integer as active_clients,
        round(active.active_clients::{{ type_decimal() }} / cohort_sizes.cohort_size, 4) as retention_rate
    from active
    inner join cohort_sizes on active.cohort_week = cohort_sizes.cohort_week
)

select * from final
