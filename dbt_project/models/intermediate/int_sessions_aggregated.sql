{#-
    One row per server-side session, bots and zombies included (flagged is_quarantined; marts leave them out).
    Funnel steps count only in order: product_view, then add_to_cart_click, then checkout_start, then
    checkout_complete, each at or after the previous step.
-#}
{{
    incremental_by_client(
        time_column='started_at',
        indexes=[
            {'columns': ['session_key'], 'unique': true},
            {'columns': ['client_id', 'started_at']},
            {'columns': ['dbt_processed_at']},
        ],
    )
}}

with

-- one pattern finding the seed's click id parameters in a URL
click_ids as (
    select '[?&](' || {{ dbt.listagg('parameter', "'|'", 'order by parameter') }} || ')=' as pattern
    from {{ ref('click_ids') }}
),

sessionized as (
    select
        event_id,
        session_key
    from {{ ref('int_events_sessionized') }}
    -- a recomputed window holds whole sessions: their events are exactly the rows recomputed since the last run
    where {{ processed_since_last_run() }}
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
        staged.is_bot,
        staged.order_total
    from sessionized
    inner join {{ ref('stg_clickstream__events') }} as staged on sessionized.event_id = staged.event_id
),

ordered as (
    select
        events.*,
        row_number() over (
            partition by events.session_key order by events.event_at asc, events.event_id asc
        ) as event_position,
        row_number() over (
            partition by events.session_key order by events.event_at desc, events.event_id desc
        ) as event_position_from_end,
        min(events.event_at) filter (
            where events.event_name = 'product_view'
        ) over (partition by events.session_key) as product_view_at
    from events
),

-- Funnel steps in order, without joins (their estimates go wrong on small deltas over big tables): each step
-- is the earliest event of its kind at or after the previous step, one window pass per step.
to_cart as (
    select
        *,
        min(event_at) filter (
            where event_name = 'add_to_cart_click' and event_at >= product_view_at
        ) over (partition by session_key) as add_to_cart_at
    from ordered
),

to_checkout as (
    select
        *,
        min(event_at) filter (
            where event_name = 'checkout_start' and event_at >= add_to_cart_at
        ) over (partition by session_key) as checkout_start_at
    from to_cart
),

to_purchase as (
    select
        *,
        min(event_at) filter (
            where event_name = 'checkout_complete' and event_at >= checkout_start_at
        ) over (partition by session_key) as checkout_complete_at
    from to_checkout
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
        {{ first_by('user_id', ['event_at desc', 'event_id desc'], where='user_id is not null') }} as session_user_id,
        bool_or(user_login_state = 'logged_in') as has_logged_in_event,
        bool_or(user_login_state = 'guest') as has_guest_event,
        bool_or(event_name = 'login_success') as has_login,
        count(*) filter (where event_name = 'checkout_complete') as purchase_count,
        coalesce(sum(order_total) filter (where event_name = 'checkout_complete'), 0) as tracked_revenue,
        max(tracker_session_id) filter (where event_position = 1) as tracker_session_id,
        max(page_url) filter (where event_position = 1) as landing_page_url,
        max(page_path) filter (where event_position = 1) as landing_page_path,
        max(page_host) filter (where event_position = 1) as page_host,
        max(referrer_host) filter (where event_position = 1) as referrer_host,
        max(utm_source) filter (where event_position = 1) as utm_source,
        max(utm_medium) filter (where event_position = 1) as utm_medium,
        max(utm_campaign) filter (where event_position = 1) as utm_campaign,
        -- an ad click id on the landing page (the seed click_ids lists the parameters)
        max({{ regex_group('page_url', '(select click_ids.pattern from click_ids)') }}) filter (
            where event_position = 1
        )
            as click_id_parameter,
        max(device_class) filter (where event_position = 1) as device_class,
        max(browser) filter (where event_position = 1) as browser,
        max(operating_system) filter (where event_position = 1) as operating_system,
        max(page_path) filter (where event_position_from_end = 1) as exit_page_path,
        min(product_view_at) as product_view_at,
        min(add_to_cart_at) as add_to_cart_at,
        min(checkout_start_at) as checkout_start_at,
        min(checkout_complete_at) as checkout_complete_at
    from to_purchase
    group by session_key
),

final as (
    select
        totals.session_key,
        totals.client_id,
        totals.tracker_session_id,
        totals.tracker_session_count,
        totals.started_at,
        totals.ended_at,
        round({{ seconds_between('totals.started_at', 'totals.ended_at') }}, 3) as duration_seconds,
        totals.event_count,
        totals.page_view_count,
        totals.landing_page_url,
        totals.landing_page_path,
        totals.page_host as landing_page_host,
        totals.exit_page_path,
        totals.referrer_host,
        totals.utm_source,
        totals.utm_medium,
        totals.utm_campaign,
        totals.click_id_parameter,
        -- the landing's traffic source, classified by int_traffic_sources (seeds channel_rules, source_categories)
        {{ traffic_source_key('totals') }} as traffic_source_key,
        totals.device_class,
        totals.browser,
        totals.operating_system,
        totals.session_user_id,
        case
            when totals.has_logged_in_event then 'logged_in'
            when totals.has_guest_event then 'guest'
            else 'anonymous'
        end as login_state,
        totals.has_login,
        case
            when totals.checkout_complete_at is not null then 4
            when totals.checkout_start_at is not null then 3
            when totals.add_to_cart_at is not null then 2
            when totals.product_view_at is not null then 1
            else 0
        end as funnel_step,
        totals.product_view_at,
        totals.add_to_cart_at,
        totals.checkout_start_at,
        totals.checkout_complete_at,
        totals.has_only_views and totals.distinct_page_count <= 1 as is_bounce,
        totals.purchase_count > 0 as is_converted,
        totals.purchase_count,
        totals.tracked_revenue,
        totals.has_bot_user_agent
        or totals.ended_at - totals.started_at > interval '{{ var("session_max_hours") }} hours' as is_quarantined,
        case
            when totals.has_bot_user_agent then 'bot_user_agent'
            when totals.ended_at - totals.started_at > interval '{{ var("session_max_hours") }} hours'
                then 'longer_than_{{ var("session_max_hours") }}h'
        end as quarantine_reason
    from totals
)

select * from final
