-- The shop's paid revenue is counted once wherever it appears: the orders' revenue equals the reconciliation's, their
-- lines' (when an order's total is its lines' sum), and the matched part equals the sessions', the clients' and the
-- funnel's first step. Any row returned names a mart that disagrees.
with

orders as (
    select
        coalesce(sum(revenue), 0) as revenue,
        coalesce(sum(revenue) filter (where session_key is not null), 0) as matched_revenue
    from {{ ref('fct_orders') }}
),

-- orders whose lines add up to their total (no shipping or voucher in the total), with their lines' revenue
line_sums as (
    select
        order_id,
        sum(line_total) as line_total,
        sum(revenue) as revenue
    from {{ ref('fct_order_items') }}
    group by order_id
),

whole_orders as (
    select
        coalesce(sum(orders.revenue), 0) as revenue,
        coalesce(sum(line_sums.revenue), 0) as lines_revenue
    from {{ ref('fct_orders') }} as orders
    inner join line_sums on orders.order_id = line_sums.order_id
    where orders.total_price = line_sums.line_total
),

compared as (
    select
        'order_reconciliation_daily.shop_revenue' as mart,
        (select orders.revenue from orders) as expected,
        (select coalesce(sum(daily.shop_revenue), 0) from {{ ref('order_reconciliation_daily') }} as daily) as found
    union all
    select
        'order_reconciliation_daily.matched_revenue' as mart,
        (select orders.matched_revenue from orders) as expected,
        (select coalesce(sum(daily.matched_revenue), 0) from {{ ref('order_reconciliation_daily') }} as daily) as found
    union all
    select
        'fct_sessions.revenue' as mart,
        (select orders.matched_revenue from orders) as expected,
        (select coalesce(sum(sessions.revenue), 0) from {{ ref('fct_sessions') }} as sessions) as found
    union all
    select
        'dim_clients.lifetime_revenue' as mart,
        (select orders.matched_revenue from orders) as expected,
        (select coalesce(sum(clients.lifetime_revenue), 0) from {{ ref('dim_clients') }} as clients) as found
    union all
    select
        'funnel_daily.revenue at session_start' as mart,
        (select orders.matched_revenue from orders) as expected,
        (
            select coalesce(sum(funnel.revenue), 0) from {{ ref('funnel_daily') }} as funnel
            where funnel.step_order = 0
        ) as found
    union all
    select
        'fct_order_items.revenue' as mart,
        (select whole_orders.revenue from whole_orders) as expected,
        (select whole_orders.lines_revenue from whole_orders) as found
)

select * from compared
where expected <> found
