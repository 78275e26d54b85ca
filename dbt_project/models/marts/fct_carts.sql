{#-
    One row per cart a client left, reconstructed from its cart events (macro cart_line_states): the cart's lines
    as they stood at its last activity, and its value at list price. A cart ends with a completed checkout; a
    pause longer than cart_abandon_hours also closes it (the visitor left it; the lines stay in the storefront's cart
    and carry into the next one). Carts left empty (every line removed) are not carts.

    outcome:
      ordered    the client or its user placed a shop order between the cart's first activity and cart_abandon_hours
                 after its last (fct_orders: matched to the client's session, or placed by the same user)
      open       no order yet, and cart_abandon_hours have not passed since its last activity (as of this build)
      abandoned  no order within cart_abandon_hours; recovered when the client or user orders later, within
                 cart_recovery_days of the cart's last activity
    revenue_left_in_cart is the value of an abandoned cart never recovered.

    A plain table, rebuilt by every build: outcomes move with the clock and with orders placed days later.
-#}
{%- set abandon = "interval '" ~ var('cart_abandon_hours') ~ " hours'" %}
{%- set recovery = "interval '" ~ var('cart_recovery_days') ~ " days'" %}

with

events as (
    select
        event_id,
        event_name,
        event_at,
        client_id,
        user_id,
        user_login_state,
        device_class,
        product_id,
        product_name,
        product_category,
        product_brand,
        product_price,
        product_discount_price
    from {{ ref('fct_events') }}
    where event_name in ('add_to_cart_click', 'remove_from_cart_click', 'checkout_start', 'checkout_complete')
),

{{ cart_line_states('events') }}

-- a pause longer than cart_abandon_hours between a cart's events closes it: the events after it make the next one
pauses as (
    select
        *,
        case
            when
                lag(event_at) over (partition by client_id, cart_number order by event_at, event_id) is null
                or event_at - lag(event_at) over (partition by client_id, cart_number order by event_at, event_id)
                > {{ abandon }}
                then 1
            else 0
        end as opens_a_cart
    from numbered
),

visits as (
    select
        *,
        sum(opens_a_cart) over (
            partition by client_id, cart_number
            order by event_at, event_id rows between unbounded preceding and current row
        ) as visit_number
    from pauses
),

left_carts as (
    select
        client_id,
        cart_number,
        visit_number,
        md5(client_id || '/' || (array_agg(event_id order by event_at, event_id))[1]::text) as cart_key,
        min(event_at) as started_at,
        max(event_at) as last_activity_at,
        (array_agg(event_id order by event_at desc, event_id desc))[1] as last_event_id,
        (array_agg(user_id order by event_at desc, event_id desc))[1] as user_id,
        (array_agg(device_class order by event_at desc, event_id desc))[1] as device_class,
        (array_agg(user_login_state order by event_at desc, event_id desc))[1] as login_state,
        bool_or(event_name = 'checkout_start') as reached_checkout,
        bool_or(event_name = 'checkout_complete') as is_checked_out
    from visits
    group by client_id, cart_number, visit_number
),

-- each cart's lines at its last activity (a checkout_complete's cart is the one it bought)
lines as (
    select
        carts.cart_key,
        count(*) as line_count,
        sum(states.quantity) as units,
        sum(states.quantity * states.product_price) as list_value
    from left_carts as carts
    inner join line_states as states
        on
            carts.client_id = states.client_id
            and carts.cart_number = states.cart_number
            and {{ line_state_at('states', 'carts.last_activity_at', 'carts.last_event_id', inclusive=true) }}
    where states.quantity > 0
    group by carts.cart_key
),

carts as (
    select
        left_carts.*,
        lines.line_count,
        lines.units,
        lines.list_value
    from left_carts
    inner join lines on left_carts.cart_key = lines.cart_key
),

orders as (
    select
        order_id,
        ordered_at,
        client_id,
        user_id,
        revenue
    from {{ ref('fct_orders') }}
),

-- orders of the cart's client (matched to its session) or of its user, from its first activity on
candidate_orders as (
    select
        carts.cart_key,
        orders.order_id,
        orders.ordered_at,
        orders.revenue
    from carts
    inner join orders on carts.client_id = orders.client_id
    where orders.ordered_at >= carts.started_at
    union
    select
        carts.cart_key,
        orders.order_id,
        orders.ordered_at,
        orders.revenue
    from carts
    inner join orders on carts.user_id = orders.user_id
    where orders.ordered_at >= carts.started_at
),

-- each candidate order: during the cart or within cart_abandon_hours of its last activity, or later (a recovery,
-- within cart_recovery_days)
dated_candidates as (
    select
        candidates.cart_key,
        candidates.order_id,
        candidates.ordered_at,
        candidates.revenue,
        candidates.ordered_at <= carts.last_activity_at + {{ abandon }} as is_within,
        candidates.ordered_at > carts.last_activity_at + {{ abandon }}
        and candidates.ordered_at <= carts.last_activity_at + {{ recovery }} as is_later
    from candidate_orders as candidates
    inner join carts on candidates.cart_key = carts.cart_key
),

-- per cart, the first of each: one grouped pass (a join per kind misleads the planner into nested loops)
cart_orders as (
    select
        cart_key,
        (array_agg(order_id order by ordered_at, order_id) filter (where is_within))[1] as order_id,
        (array_agg(order_id order by ordered_at, order_id) filter (where is_later))[1] as recovered_order_id,
        min(ordered_at) filter (where is_later) as recovered_at,
        (array_agg(revenue order by ordered_at, order_id) filter (where is_later))[1] as recovered_revenue
    from dated_candidates
    group by cart_key
),

outcomes as (
    select
        carts.*,
        cart_orders.order_id,
        case
            when cart_orders.order_id is not null then 'ordered'
            when carts.last_activity_at + {{ abandon }} > {{ run_started() }} then 'open'
            else 'abandoned'
        end as outcome,
        cart_orders.recovered_order_id,
        cart_orders.recovered_at,
        cart_orders.recovered_revenue
    from carts
    left join cart_orders on carts.cart_key = cart_orders.cart_key
),

final as (
    select
        cart_key,
        client_id,
        user_id,
        started_at,
        last_activity_at,
        (last_activity_at at time zone 'UTC')::date as cart_date,
        device_class,
        login_state,
        reached_checkout,
        is_checked_out,
        line_count::integer as line_count,
        units::integer as units,
        list_value,
        outcome,
        order_id,
        outcome = 'abandoned' as is_abandoned,
        outcome = 'abandoned' and recovered_order_id is not null as is_recovered,
        case when outcome = 'abandoned' then recovered_order_id end as recovered_order_id,
        case when outcome = 'abandoned' then recovered_at end as recovered_at,
        case when outcome = 'abandoned' then coalesce(recovered_revenue, 0) else 0 end as recovered_revenue,
        case when outcome = 'abandoned' and recovered_order_id is null then list_value else 0 end
            as revenue_left_in_cart
    from outcomes
)

select * from final
