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
        coalesce(max(completed.event_at), '-infinity'::timestamptz) as reset_at
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
        '-infinity'::timestamptz as recompute_from
    from {{ ref('fct_events') }}
    where event_name in {{ cart_event_names }}
),
{% endif %}

-- carts are numbered per client: a completed checkout ends one, the next event starts the next
numbered as (
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
        recompute_from,
        coalesce(
            count(*) filter (where event_name = 'checkout_complete') over (
                partition by client_id order by event_at, event_id rows between unbounded preceding and 1 preceding
            ),
            0
        ) as cart_number
    from events
),

checkouts as (
    select *
    from numbered
    where event_name in ('checkout_start', 'checkout_complete') and event_at >= recompute_from
),

adds as (
    select *
    from numbered
    where event_name = 'add_to_cart_click' and product_id is not null
),

removals as (
    select *
    from numbered
    where event_name = 'remove_from_cart_click' and product_id is not null
),

-- each add still in the cart at a checkout: in the same cart, before it, and not removed in between
lines as (
    select
        checkouts.event_id as checkout_event_id,
        adds.product_id,
        adds.product_name,
        adds.product_category,
        adds.product_brand,
        adds.product_price,
        adds.product_discount_price,
        adds.event_at as added_at,
        adds.event_id as add_event_id
    from checkouts
    inner join adds
        on
            checkouts.client_id = adds.client_id
            and checkouts.cart_number = adds.cart_number
            and (adds.event_at, adds.event_id) < (checkouts.event_at, checkouts.event_id)
    left join removals
        on
            adds.client_id = removals.client_id
            and adds.cart_number = removals.cart_number
            and adds.product_id = removals.product_id
            and (adds.event_at, adds.event_id) < (removals.event_at, removals.event_id)
            and (removals.event_at, removals.event_id) < (checkouts.event_at, checkouts.event_id)
    where removals.event_id is null
),

items as (
    select
        checkout_event_id,
        product_id,
        count(*) as quantity,
        (array_agg(product_name order by added_at desc, add_event_id desc))[1] as product_name,
        (array_agg(product_category order by added_at desc, add_event_id desc))[1] as product_category,
        (array_agg(product_brand order by added_at desc, add_event_id desc))[1] as product_brand,
        (array_agg(product_price order by added_at desc, add_event_id desc))[1] as unit_price,
        (array_agg(product_discount_price order by added_at desc, add_event_id desc))[1] as unit_discount_price
    from lines
    group by checkout_event_id, product_id
),

final as (
    select
        checkouts.event_id as checkout_event_id,
        checkouts.event_name as checkout_event_name,
        checkouts.event_at as checkout_at,
        (checkouts.event_at at time zone 'UTC')::date as checkout_date,
        checkouts.client_id,
        checkouts.session_key,
        checkouts.user_id,
        checkouts.user_login_state as login_state,
        checkouts.device_class,
        checkouts.order_id,
        checkouts.order_number,
        items.product_id,
        items.product_name,
        items.product_category,
        items.product_brand,
        items.quantity::integer as quantity,
        items.unit_price,
        items.unit_discount_price,
        items.quantity * items.unit_price as list_value
    from items
    inner join checkouts on items.checkout_event_id = checkouts.event_id
)

select * from final
