{#-
    One row per cart a client left (int_carts_left: its lines at its last activity, its value at list price), with
    its outcome:
      ordered    the client or its user placed a shop order between the cart's first activity and cart_abandon_hours
                 after its last (fct_orders: matched to the client's session, or placed by the same user)
      open       no order yet, and cart_abandon_hours have not passed since its last activity (as of this build)
      abandoned  no order within cart_abandon_hours; recovered when the client or user orders later, within
                 cart_recovery_days of the cart's last activity
    revenue_left_in_cart is the value of an abandoned cart never recovered.

    Computed whole by every build (outcomes move with the clock and with orders placed days later; the carts
    themselves, the costly part, are incremental) and compared with the previous build: only the carts whose row
    changed are rewritten.
-#}
{{
    rebuilt_and_compared(
        unique_key='cart_key',
        indexes=[
            {'columns': ['cart_date']},
        ],
    )
}}
{%- set abandon = "interval '" ~ var('cart_abandon_hours') ~ " hours'" %}
{%- set recovery = "interval '" ~ var('cart_recovery_days') ~ " days'" %}

with

carts as (
    select
        cart_key,
        client_id,
        user_id,
        started_at,
        last_activity_at,
        device_class,
        login_state,
        reached_checkout,
        is_checked_out,
        line_count,
        units,
        list_value
    from {{ ref('int_carts_left') }}
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

-- orders of the cart's client (matched to its session) or of its user, from its first activity on (an order of
-- both comes twice: harmless to the firsts below, and cheaper than a union's sort, which spilled at 5M events)
candidate_orders as (
    select
        carts.cart_key,
        orders.order_id,
        orders.ordered_at,
        orders.revenue
    from carts
    inner join orders on carts.client_id = orders.client_id
    where orders.ordered_at >= carts.started_at
    union all
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
        {{ first_by('order_id', ['ordered_at', 'order_id'], where='is_within') }} as order_id,
        {{ first_by('order_id', ['ordered_at', 'order_id'], where='is_later') }} as recovered_order_id,
        min(ordered_at) filter (where is_later) as recovered_at,
        {{ first_by('revenue', ['ordered_at', 'order_id'], where='is_later') }} as recovered_revenue
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
        {{ utc_date('last_activity_at') }} as cart_date,
        device_class,
        login_state,
        reached_checkout,
        is_checked_out,
        line_count,
        units,
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
