{#-
    The paths of the first-order Markov chain behind the markov attribution model: every customer's touches (as in
    attribution_paths: a customer is the stitched user, else the client; sessions returning from a payment gateway
    are no touch) within markov_window_days before the newest session, cut at each order: the touches up to an order
    make a converting path, the touches after a customer's last order (or of a customer who never ordered) a path
    that ends without a conversion. Consecutive touches of the same channel count once (the chain has no
    self-loops). A plain table: the chain is rebuilt, over its bounded window, by every build.
-#}
{%- set window = "interval '" ~ var('markov_window_days') ~ " days'" %}

with

bounds as (
    select max(started_at) - {{ window }} as window_start
    from {{ ref('fct_sessions') }}
),

sessions as (
    select
        coalesce('user:' || sessions.user_id, 'client:' || sessions.client_id) as customer_key,
        sessions.session_key,
        sessions.started_at,
        sessions.channel
    from {{ ref('fct_sessions') }} as sessions
    where
        not sessions.is_referral_continuation
        and sessions.started_at >= (select bounds.window_start from bounds)
),

-- orders by the same customer key: the order's user, else the stitched user of the client that placed it
orders as (
    select
        coalesce('user:' || orders.user_id, 'user:' || clients.user_id, 'client:' || orders.client_id) as customer_key,
        greatest(orders.ordered_at, coalesce(orders.tracked_at, orders.ordered_at)) as converted_at,
        orders.order_id
    from {{ ref('fct_orders') }} as orders
    left join {{ ref('int_clients_stitched') }} as clients on orders.client_id = clients.client_id
    where
        (orders.user_id is not null or orders.client_id is not null)
        and orders.ordered_at >= (select bounds.window_start from bounds)
),

-- one timeline per customer: a touch belongs to the path of the customer's first order at or after it
timeline as (
    select
        customer_key,
        session_key,
        started_at as happened_at,
        0 as is_order,
        channel
    from sessions
    union all
    select
        customer_key,
        order_id as session_key,
        converted_at as happened_at,
        1 as is_order,
        null as channel
    from orders
),

numbered as (
    select
        *,
        sum(is_order) over (
            partition by customer_key order by happened_at, is_order, session_key
            rows between unbounded preceding and current row
        ) as path_number,
        sum(is_order) over (partition by customer_key) as customer_orders
    from timeline
),

with_outcome as (
    select
        customer_key,
        session_key,
        happened_at,
        channel,
        path_number,
        customer_orders > path_number as is_converting,
        lag(channel) over (
            partition by customer_key, path_number order by happened_at, session_key
        ) as previous_channel
    from numbered
    where is_order = 0
),

final as (
    select
        customer_key || '#' || path_number as path_id,
        row_number() over (
            partition by customer_key, path_number order by happened_at, session_key
        ) as step,
        channel,
        is_converting
    from with_outcome
    where previous_channel is distinct from channel
)

select * from final
