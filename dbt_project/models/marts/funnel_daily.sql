{#-
    Sessions reaching each funnel step per UTC day of session start: session_start, then product_view,
    add_to_cart_click, checkout_start and checkout_complete, each in that order in time.
-#}
{{
    config(
        incremental_strategy='append',
        pre_hook=["{{ delete_periods('date_day', 'select period_start::date from (' ~ changed_periods('day') ~ ') as days') }}"],
        post_hook=["{{ save_watermark() }}"],
        indexes=[{'columns': ['date_day', 'step_order'], 'unique': true}],
    )
}}

-- depends_on: {{ ref('int_events_sessionized') }}, {{ ref('fct_sessions') }}

with

{% if is_incremental() %}
changed_days as (
    {{ changed_days() }}
),
{% endif %}

segments as (
    select
        date_day,
        step_order,
        step_name,
        sessions,
        tracked_revenue
    from {{ ref('funnel_daily_by_segment') }}
    {% if is_incremental() %}
    where date_day = any(array(select changed_days.date_day from changed_days))
    {% endif %}
),

counted as (
    select
        date_day,
        step_order,
        step_name,
        sum(sessions) as sessions,
        sum(tracked_revenue) as tracked_revenue
    from segments
    group by date_day, step_order, step_name
),

final as (
    select
        date_day,
        step_order,
        step_name,
        sessions::integer as sessions,
        tracked_revenue,
        round(sessions::numeric / nullif(lag(sessions) over (partition by date_day order by step_order), 0), 4)
            as conversion_from_previous,
        round(sessions::numeric / nullif(first_value(sessions) over (partition by date_day order by step_order), 0), 4)
            as conversion_from_start,
        {{ run_started() }} as dbt_processed_at
    from counted
)

select * from final
