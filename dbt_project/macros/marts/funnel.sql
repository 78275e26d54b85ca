{#-
    The funnel, per UTC day of session start and `segments` (columns of fct_sessions): sessions reaching each step
    of the seed funnel_steps, in order in time (fct_sessions.funnel_step), with conversion from the previous step
    and from the start, and the tracked revenue and revenue (their matched orders' paid totals) of the sessions
    reaching the step. funnel_daily and
    funnel_daily_by_segment are this macro with and without the dashboard's segments.
-#}
{% macro funnel_by_day(segments=[]) -%}
{%- set by = ['sessions.date_day'] -%}
{%- for segment in segments -%}{%- do by.append('sessions.' ~ segment) -%}{%- endfor -%}
{%- set partition = (['date_day'] + segments) | join(', ') %}
with

sessions as (
    select
        started_date as date_day,
        {%- for segment in segments %}
        {{ segment }},
        {%- endfor %}
        funnel_step,
        tracked_revenue,
        revenue
    from {{ ref('fct_sessions') }}
    where {{ in_changed_periods('started_at') }}
),

steps as (
    select
        step_order,
        step_name
    from {{ ref('funnel_steps') }}
),

counted as (
    select
        {%- for column in by %}
        {{ column }},
        {%- endfor %}
        steps.step_order,
        steps.step_name,
        count(*) filter (where sessions.funnel_step >= steps.step_order) as sessions,
        coalesce(sum(sessions.tracked_revenue) filter (where sessions.funnel_step >= steps.step_order), 0)
            as tracked_revenue,
        coalesce(sum(sessions.revenue) filter (where sessions.funnel_step >= steps.step_order), 0) as revenue
    from sessions
    cross join steps
    group by {{ by | join(', ') }}, steps.step_order, steps.step_name
),

final as (
    select
        date_day,
        {%- for segment in segments %}
        {{ segment }},
        {%- endfor %}
        step_order,
        step_name,
        sessions::integer as sessions,
        tracked_revenue,
        revenue,
        round(
            sessions::{{ type_decimal() }} / nullif(lag(sessions) over (partition by {{ partition }} order by step_order), 0), 4
        ) as conversion_from_previous,
        round(
            sessions::{{ type_decimal() }}
            / nullif(first_value(sessions) over (partition by {{ partition }} order by step_order), 0),
            4
        ) as conversion_from_start
    from counted
)

select * from final
{%- endmacro %}
