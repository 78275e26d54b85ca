{#- funnel_daily per UTC day of session start, device class and login state (the dashboard's filters). -#}
{{
    config(
        incremental_strategy='append',
        pre_hook=["{{ delete_periods('date_day', 'select period_start::date from (' ~ changed_periods('day') ~ ') as days') }}"],
        post_hook=["{{ save_watermark() }}"],
        indexes=[{'columns': ['date_day']}],
    )
}}

-- depends_on: {{ ref('int_events_sessionized') }}, {{ ref('int_clients_stitched') }}, {{ ref('fct_sessions') }}

with

{% if is_incremental() %}
changed_days as (
    {{ changed_days() }}
),
{% endif %}

sessions as (
    select
        started_date as date_day,
        device_class,
        login_state,
        funnel_step,
        tracked_revenue
    from {{ ref('fct_sessions') }}
    {% if is_incremental() %}
    where started_date = any(array(select changed_days.date_day from changed_days))
    {% endif %}
),

steps as (
    select *
    from (
        values
        (0, 'session_start'),
        (1, 'product_view'),
        (2, 'add_to_cart_click'),
        (3, 'checkout_start'),
        (4, 'checkout_complete')
    ) as steps (step_order, step_name)
),

counted as (
    select
        sessions.date_day,
        sessions.device_class,
        sessions.login_state,
        steps.step_order,
        steps.step_name,
        count(*) filter (where sessions.funnel_step >= steps.step_order) as sessions,
        coalesce(sum(sessions.tracked_revenue) filter (where sessions.funnel_step >= steps.step_order), 0)
            as tracked_revenue
    from sessions
    cross join steps
    group by sessions.date_day, sessions.device_class, sessions.login_state, steps.step_order, steps.step_name
),

final as (
    select
        date_day,
        device_class,
        login_state,
        step_order,
        step_name,
        sessions::integer as sessions,
        tracked_revenue,
        round(
            sessions::numeric
            / nullif(lag(sessions) over (partition by date_day, device_class, login_state order by step_order), 0),
            4
        ) as conversion_from_previous,
        round(
            sessions::numeric
            / nullif(
                first_value(sessions) over (partition by date_day, device_class, login_state order by step_order), 0
            ),
            4
        ) as conversion_from_start,
        {{ run_started() }} as dbt_processed_at
    from counted
)

select * from final
