{#-
    One row per server-side session, bots and zombies included (flagged is_quarantined; marts leave them out).
    Funnel steps count only in order: product_view, then add_to_cart_click, then checkout_start, then
    checkout_complete, each at or after the previous step.
-#}
{{
    config(
        incremental_strategy='append',
        pre_hook=["{{ delete_client_windows('started_at', changed_windows()) }}"],
        post_hook=["{{ save_watermark() }}"],
        indexes=[
            {'columns': ['session_key'], 'unique': true},
            {'columns': ['client_id', 'started_at']},
            {'columns': ['dbt_processed_at']},
        ],
    )
}}

with

sessionized as (
    select
        event_id,
        session_key
    from {{ ref('int_events_sessionized') }}
    {% if is_incremental() %}
    where dbt_processed_at > {{ watermark() }}
    {% endif %}
),

events as (
    select
        sessionized.session_key,
        staged.event_id,
        staged.event_at,
        staged.event_name,
        staged.client_id,
        staged.tracker_session_id,
        staged.user_id,
        staged.user_login_state,
        staged.page_url,
        staged.page_host,
        staged.page_path,
        staged.referrer_host,
        staged.utm_source,
        staged.utm_medium,
        staged.utm_campaign,
        staged.device_class,
        staged.browser,
        staged.operating_system,
        staged.is_bot
    from sessionized
    inner join {{ ref('stg_clickstream__events') }} as staged on sessionized.event_id = staged.event_id
),

totals as (
    select
        session_key,
        min(client_id) as client_id,
        min(event_at) as started_at,
        max(event_at) as ended_at,
        count(*) as event_count,
        count(*) filter (where event_name = 'page_view') as page_view_count,
        count(distinct page_url) as distinct_page_count,
        bool_and(event_name in ('page_view', 'home_view', 'category_view', 'product_view')) as has_only_views,
        bool_or(is_bot) as has_bot_user_agent,
        count(distinct tracker_session_id) as tracker_session_count,
        (array_agg(user_id order by event_at desc, event_id desc) filter (where user_id is not null))[1]
            as session_user_id,
        bool_or(user_login_state = 'logged_in') as has_logged_in_event,
        bool_or(user_login_state = 'guest') as has_guest_event,
        bool_or(event_name = 'login_success') as has_login,
        count(*) filter (where event_name = 'checkout_complete') as purchase_count
    from events
    group by session_key
),

landing as (
    select distinct on (session_key)
        session_key,
        tracker_session_id,
        page_url as landing_page_url,
        page_path as landing_page_path,
        page_host,
        referrer_host,
        utm_source,
        utm_medium,
        utm_campaign,
        device_class,
        browser,
        operating_system
    from events
    order by session_key asc, event_at asc, event_id asc
),

exits as (
    select distinct on (session_key)
        session_key,
        page_path as exit_page_path
    from events
    order by session_key asc, event_at desc, event_id desc
),

step_product_view as (
    select
        session_key,
        min(event_at) as reached_at
    from events
    where event_name = 'product_view'
    group by session_key
),

step_add_to_cart as (
    select
        events.session_key,
        min(events.event_at) as reached_at
    from events
    inner join step_product_view as previous_step on events.session_key = previous_step.session_key
    where events.event_name = 'add_to_cart_click' and events.event_at >= previous_step.reached_at
    group by events.session_key
),

step_checkout_start as (
    select
        events.session_key,
        min(events.event_at) as reached_at
    from events
    inner join step_add_to_cart as previous_step on events.session_key = previous_step.session_key
    where events.event_name = 'checkout_start' and events.event_at >= previous_step.reached_at
    group by events.session_key
),

step_checkout_complete as (
    select
        events.session_key,
        min(events.event_at) as reached_at
    from events
    inner join step_checkout_start as previous_step on events.session_key = previous_step.session_key
    where events.event_name = 'checkout_complete' and events.event_at >= previous_step.reached_at
    group by events.session_key
),

final as (
    select
        totals.session_key,
        totals.client_id,
        landing.tracker_session_id,
        totals.tracker_session_count,
        totals.started_at,
        totals.ended_at,
        round(extract(epoch from totals.ended_at - totals.started_at), 3) as duration_seconds,
        totals.event_count,
        totals.page_view_count,
        landing.landing_page_url,
        landing.landing_page_path,
        exits.exit_page_path,
        landing.referrer_host,
        landing.utm_source,
        landing.utm_medium,
        landing.utm_campaign,
        {{ traffic_channel('landing.referrer_host', 'landing.page_host', 'landing.utm_source', 'landing.utm_medium') }}
            as channel,
        landing.device_class,
        landing.browser,
        landing.operating_system,
        totals.session_user_id,
        case
            when totals.has_logged_in_event then 'logged_in'
            when totals.has_guest_event then 'guest'
            else 'anonymous'
        end as login_state,
        totals.has_login,
        case
            when step_checkout_complete.reached_at is not null then 4
            when step_checkout_start.reached_at is not null then 3
            when step_add_to_cart.reached_at is not null then 2
            when step_product_view.reached_at is not null then 1
            else 0
        end as funnel_step,
        step_product_view.reached_at as product_view_at,
        step_add_to_cart.reached_at as add_to_cart_at,
        step_checkout_start.reached_at as checkout_start_at,
        step_checkout_complete.reached_at as checkout_complete_at,
        totals.has_only_views and totals.distinct_page_count <= 1 as is_bounce,
        totals.purchase_count > 0 as is_converted,
        totals.purchase_count,
        totals.has_bot_user_agent
        or totals.ended_at - totals.started_at > interval '{{ var("session_max_hours") }} hours' as is_quarantined,
        case
            when totals.has_bot_user_agent then 'bot_user_agent'
            when totals.ended_at - totals.started_at > interval '{{ var("session_max_hours") }} hours'
                then 'longer_than_{{ var("session_max_hours") }}h'
        end as quarantine_reason,
        {{ run_started() }} as dbt_processed_at
    from totals
    inner join landing on totals.session_key = landing.session_key
    inner join exits on totals.session_key = exits.session_key
    left join step_product_view on totals.session_key = step_product_view.session_key
    left join step_add_to_cart on totals.session_key = step_add_to_cart.session_key
    left join step_checkout_start on totals.session_key = step_checkout_start.session_key
    left join step_checkout_complete on totals.session_key = step_checkout_complete.session_key
)

select * from final
