{#-
    The cart at each checkout, reconstructed: one row per checkout event (checkout_start or checkout_complete)
    and product in the client's cart at that moment. The storefront's checkout events carry no product, only the
    cart's total and size, so the cart is rebuilt from the client's own events: the products added and not
    removed before the checkout (a removal takes the whole line), across the client's sessions, starting empty
    after each completed checkout. Quantity is the number of adds since the line was last removed; prices are the
    last ones an add carried. Bots and zombie sessions are left out (fct_events).
-#}
{#- A cart depends on all of the client's events since its last completed checkout: each changed client's carts
    are recomputed from its earliest recomputed window on (open_ended); the days of carts that changed are logged
    for the product marts. -#}
{{
    incremental_by_client(
        time_column='checkout_at',
        client_scope='identity',
        open_ended=true,
        logs_spans='checkout_at',
        logs_changes_of='*',
        indexes=[
            {'columns': ['checkout_event_id', 'product_id'], 'unique': true},
            {'columns': ['client_id', 'checkout_at']},
            {'columns': ['checkout_at']},
            {'columns': ['dbt_processed_at']},
        ],
    )
}}


{%- set cart_event_names = "('add_to_cart_click', 'remove_from_cart_click', 'checkout_start', 'checkout_complete')" %}

with

{% if is_incremental() %}
scope as (
    {{ client_scope() }}
),

-- a client's carts from recompute_from on start after its last completed checkout before that instant
resets as (
    select
        scope.client_id,
        scope.recomputed_from,
        coalesce(max(completed.event_at), {{ start_of_time() }}) as reset_at
    from scope
    left join {{ ref('fct_events') }} as completed
        on
            scope.client_id = completed.client_id
            and completed.event_name = 'checkout_complete'
            and scope.recomputed_from > completed.event_at
    group by scope.client_id, scope.recomputed_from
),

events as (
    select
        events.*,
        resets.recomputed_from as recompute_from
    from resets
    inner join {{ ref('fct_events') }} as events
        on resets.client_id = events.client_id and resets.reset_at <= events.event_at
    where events.event_name in {{ cart_event_names }}
),
{% else %}
events as (
    select
        *,
        {{ start_of_time() }} as recompute_from
    from {{ ref('fct_events') }}
    where event_name in {{ cart_event_names }}
),
{% endif %}

cart_events as (
    select
        event_id,
        event_name,
        event_at,
        client_id,
        session_key,
        user_id,
        user_login_state,
        device_class,
        order_id,
        order_number,
        product_id,
        product_name,
        product_category,
        product_brand,
        product_price,
        product_discount_price,
        recompute_from
    from events
),

{{ cart_line_states('cart_events') }}

checkouts as (
    select *
    from numbered
    where event_name in ('checkout_start', 'checkout_complete') and event_at >= recompute_from
),

-- at a checkout, each product's line is the state set by its last add or removal before it in the same cart
items as (
    select
        checkouts.event_id as checkout_event_id,
        checkouts.event_name as checkout_event_name,
        checkouts.event_at as checkout_at,
        checkouts.client_id,
        checkouts.session_key,
        checkouts.user_id,
        checkouts.user_login_state as login_state,
        checkouts.device_class,
        checkouts.order_id,
        checkouts.order_number,
        states.product_id,
        states.quantity,
        states.product_name,
        states.product_category,
        states.product_brand,
        states.product_price as unit_price,
        states.product_discount_price as unit_discount_price
    from checkouts
    inner join line_states as states
        on
            checkouts.client_id = states.client_id
            and checkouts.cart_number = states.cart_number
            and {{ line_state_at('states', 'checkouts.event_at', 'checkouts.event_id') }}
    where states.quantity > 0
),

final as (
    select
        checkout_event_id,
        checkout_event_name,
        checkout_at,
        {{ utc_date('checkout_at') }} as checkout_date,
        client_id,
        session_key,
        user_id,
        login_state,
        device_class,
        order_id,
        order_number,
        product_id,
        product_name,
        product_category,
        product_brand,
        quantity::integer as quantity,
        unit_price,
        unit_discount_price,
        quantity * unit_price as list_value
    from items
)

select * from final
