{#- The wide index on started_at covers the dashboard's KPI scans (index-only). -#}
{{
    incremental_by_client(
        time_column='started_at',
        client_scope='identity',
        logs_spans=['started_at', 'ended_at'],
        reads_order_changes=true,
        indexes=[
            {'columns': ['client_id', 'started_at']},
            {'columns': ['started_at', 'login_state', 'device_class', 'client_id', 'user_id', 'is_converted', 'is_bounce', 'duration_seconds']},
            {'columns': ['started_date']},
            {'columns': ['dbt_processed_at']},
        ],
    )
}}


with

{% if is_incremental() %}
scope as (
    {{ client_scope() }}
),
{% endif %}

sessions as (
    {% if is_incremental() %}
    -- driven by the scope (small) through the (client_id, started_at) index; a client in two windows once
    select {{ once_per('sessions.session_key') }} sessions.*
    from scope
    inner join {{ ref('int_sessions_aggregated') }} as sessions
        on
            scope.client_id = sessions.client_id
            and sessions.started_at between scope.recomputed_from and scope.recomputed_until
    where not sessions.is_quarantined
    {% else %}
    select * from {{ ref('int_sessions_aggregated') }}
    where not is_quarantined
    {% endif %}
),

identities as (
    select
        client_id,
        user_id
    from {{ ref('int_clients_stitched') }}
),

traffic_sources as (
    select
        traffic_source_key,
        source,
        medium,
        campaign,
        source_category,
        channel,
        is_referral_continuation
    from {{ ref('int_traffic_sources') }}
),

-- the shop orders this session's purchases placed (fct_orders' match), in their current status
orders as (
    select
        orders.session_key,
        count(*) as order_count,
        sum(orders.revenue) as revenue
    from {{ ref('fct_orders') }} as orders
    inner join sessions on orders.session_key = sessions.session_key
    group by orders.session_key
),

final as (
    select
        sessions.session_key,
        sessions.client_id,
        coalesce(sessions.session_user_id, identities.user_id) as user_id,
        sessions.tracker_session_id,
        sessions.tracker_session_count::integer as tracker_session_count,
        sessions.started_at,
        sessions.ended_at,
        {{ utc_date('sessions.started_at') }} as started_date,
        sessions.duration_seconds,
        sessions.event_count::integer as event_count,
        sessions.page_view_count::integer as page_view_count,
        sessions.landing_page_url,
        sessions.landing_page_path,
        sessions.exit_page_path,
        sessions.referrer_host,
        sessions.utm_source,
        sessions.utm_medium,
        sessions.utm_campaign,
        sessions.click_id_parameter,
        traffic_sources.source,
        traffic_sources.medium,
        traffic_sources.campaign,
        traffic_sources.source_category,
        traffic_sources.channel,
        traffic_sources.is_referral_continuation,
        sessions.device_class,
        sessions.browser,
        sessions.operating_system,
        sessions.login_state,
        sessions.has_login,
        sessions.funnel_step,
        sessions.funnel_step >= 1 as reached_product_view,
        sessions.funnel_step >= 2 as reached_add_to_cart,
        sessions.funnel_step >= 3 as reached_checkout_start,
        sessions.funnel_step >= 4 as reached_checkout_complete,
        sessions.is_bounce,
        sessions.is_converted,
        sessions.purchase_count::integer as purchase_count,
        sessions.tracked_revenue,
        coalesce(orders.order_count, 0)::integer as order_count,
        coalesce(orders.revenue, 0) as revenue
    from sessions
    left join identities on sessions.client_id = identities.client_id
    left join orders on sessions.session_key = orders.session_key
    left join traffic_sources on sessions.traffic_source_key = traffic_sources.traffic_source_key
)

select * from final
