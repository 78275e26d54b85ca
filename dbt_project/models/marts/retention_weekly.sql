{#-
    Weekly retention: clients grouped by the ISO week (Monday, UTC) of their first session, and the share of
    each cohort active in each later week. Small (weeks × weeks), so rebuilt every run.
-#}
{{
    config(
        materialized='table',
        
    )
}}

with

cohorts as (
    select
        client_id,
        first_seen_week as cohort_week
    from {{ ref('dim_clients') }}
),

cohort_sizes as (
    select
        cohort_week,
        count(*) as cohort_size
    from cohorts
    group by cohort_week
),

activity as (
    select distinct
        client_id,
        date_trunc('week', started_at at time zone 'UTC')::date as activity_week
    from {{ ref('fct_sessions') }}
),

final as (
    select
        cohorts.cohort_week,
        ((activity.activity_week - cohorts.cohort_week) / 7)::integer as weeks_since_first_visit,
        activity.activity_week,
        cohort_sizes.cohort_size::integer as cohort_size,
        count(*)::integer as active_clients,
        round(count(*)::numeric / cohort_sizes.cohort_size, 4) as retention_rate
    from activity
    inner join cohorts on activity.client_id = cohorts.client_id
    inner join cohort_sizes on cohorts.cohort_week = cohort_sizes.cohort_week
    group by cohorts.cohort_week, activity.activity_week, cohort_sizes.cohort_size
)

select * from final
