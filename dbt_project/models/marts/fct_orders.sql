{#-
    One row per order of the shop's database (deleted orders left out), in its current status, with the tracked
    purchase that placed it (int_orders_matched) and that purchase's session, client and device. revenue is the
    order's total when its payment is paid and its status counts (seeds payment_statuses, order_statuses): a
    refunded, cancelled or unpaid order is revenue 0 until its status says otherwise.

    Computed whole by every run and compared with the previous build: only the orders that changed are rewritten, and
    an order whose status, session or match changed logs
    its sessions' windows (old and new), so fct_sessions and dim_clients recompute them.
-#}
{{
    rebuilt_and_compared(
        unique_key='order_id',
        logs_client_windows=['client_id', 'session_started_at', 'session_ended_at'],
        indexes=[
            {'columns': ['ordered_at']},
            {'columns': ['session_key']},
            {'columns': ['client_id']},
            {'columns': ['user_id']},
        ],
    )
}}

with

orders as (
    select
        order_id,
        order_number,
        user_id,
        ordered_at,
        updated_at,
        status,
        payment_status,
        total_price
    from {{ ref('stg_shop__orders') }}
),

items as (
    select
        order_id,
        count(*) as line_count,
        sum(quantity) as item_count
    from {{ ref('stg_shop__order_items') }}
    group by order_id
),

matches as (
    select
        order_id,
        event_id,
        match_method
    from {{ ref('int_orders_matched') }}
),

purchases as (
    select
        event_id,
        event_at,
        session_key,
        client_id,
        order_total
    from {{ ref('int_tracked_purchases') }}
),

sessions as (
    select
        sessions.session_key,
        sessions.started_at,
        sessions.ended_at,
        sessions.device_class,
        sessions.login_state,
        traffic_sources.channel
    from {{ ref('int_sessions_aggregated') }} as sessions
    left join {{ ref('int_traffic_sources') }} as traffic_sources
        on sessions.traffic_source_key = traffic_sources.traffic_source_key
),

statuses as (
    select
        status,
        counts_as_revenue
    from {{ ref('order_statuses') }}
),

payments as (
    select
        payment_status,
        is_paid
    from {{ ref('payment_statuses') }}
),

final as (
    select
        orders.order_id,
        orders.order_number,
        orders.user_id,
        orders.ordered_at,
        {{ utc_date('orders.ordered_at') }} as ordered_date,
        orders.updated_at,
        orders.status,
        orders.payment_status,
        coalesce(payments.is_paid, false) and coalesce(statuses.counts_as_revenue, false) as is_revenue,
        orders.total_price,
        case
            when coalesce(payments.is_paid, false) and coalesce(statuses.counts_as_revenue, false)
                then orders.total_price
            else 0
        end as revenue,
        coalesce(items.line_count, 0)::integer as line_count,
        coalesce(items.item_count, 0)::integer as item_count,
        coalesce(matches.match_method, 'none') as match_method,
        matches.event_id as matched_event_id,
        purchases.event_at as tracked_at,
        purchases.order_total as tracked_total,
        purchases.session_key,
        purchases.client_id,
        sessions.started_at as session_started_at,
        sessions.ended_at as session_ended_at,
        sessions.device_class,
        sessions.login_state,
        sessions.channel
    from orders
    left join items on orders.order_id = items.order_id
    left join matches on orders.order_id = matches.order_id
    left join purchases on matches.event_id = purchases.event_id
    left join sessions on purchases.session_key = sessions.session_key
    left join statuses on orders.status = statuses.status
    left join payments on orders.payment_status = payments.payment_status
)

select * from final
