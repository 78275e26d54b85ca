{#-
    One row per cart a client left, reconstructed from its cart events (macro cart_line_states): the cart's lines
    as they stood at its last activity, and its value at list price. A cart ends with a completed checkout; a
    pause longer than cart_abandon_hours also closes it (the visitor left it; the lines stay in the storefront's cart
    and carry into the next one). Carts left empty (every line removed) are not carts. fct_carts adds the outcome.

    Incremental: a cart can still grow until `extendable_until` (its last activity plus cart_abandon_hours; a
    checked-out cart is closed at its last activity), so a changed client's carts are recomputed from the first whose
    extendable_until is inside its earliest recomputed window, reading its cart events since its last completed
    checkout before that window (the cart's lines depend on all of them).
-#}
{{
    incremental_by_client(
        time_column='extendable_until',
        client_scope='identity',
        open_ended=true,
        indexes=[
            {'columns': ['cart_key'], 'unique': true},
            {'columns': ['client_id', 'extendable_until']},
        ],
    )
}}

{%- set abandon = "interval '" ~ var('cart_abandon_hours') ~ " hours'" %}
{%- set cart_event_names = "('add_to_cart_click', 'remove_from_cart_click', 'checkout_start', 'checkout_complete')" %}

with

{% if is_incremental() %}
scope as (
    {{ client_scope() }}
),

-- a client's carts that can have changed start after its last completed checkout before its window
resets as (
    select
        scope.client_id,
        coalesce(max(completed.event_at), {{ start_of_time() }}) as reset_at
    from scope
    left join {{ ref('fct_events') }} as completed
        on
            scope.client_id = completed.client_id
            and completed.event_name = 'checkout_complete'
            and scope.recomputed_from > completed.event_at
    group by scope.client_id
),

scoped_events as (
    select events.*
    from resets
    inner join {{ ref('fct_events') }} as events
        on resets.client_id = events.client_id and resets.reset_at <= events.event_at
    where events.event_name in {{ cart_event_names }}
),
{% else %}
scoped_events as (
    select *
    from {{ ref('fct_events') }}
    where event_name in {{ cart_event_names }}
),
{% endif %}

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
    from scoped_events
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
        md5(client_id || '/' || {{ first_by('event_id', ['event_at', 'event_id']) }}::{{ type_text() }}) as cart_key,
        min(event_at) as started_at,
        max(event_at) as last_activity_at,
        {{ first_by('event_id', ['event_at desc', 'event_id desc']) }} as last_event_id,
        {{ first_by('user_id', ['event_at desc', 'event_id desc']) }} as user_id,
        {{ first_by('device_class', ['event_at desc', 'event_id desc']) }} as device_class,
        {{ first_by('user_login_state', ['event_at desc', 'event_id desc']) }} as login_state,
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

final as (
    select
        carts.cart_key,
        carts.client_id,
        carts.user_id,
        carts.started_at,
        carts.last_activity_at,
        case
            when carts.is_checked_out then carts.last_activity_at
            else carts.last_activity_at + {{ abandon }}
        end as extendable_until,
        carts.device_class,
        carts.login_state,
        carts.reached_checkout,
        carts.is_checked_out,
        lines.line_count::integer as line_count,
        lines.units::integer as units,
        lines.list_value
    from left_carts as carts
    inner join lines on carts.cart_key = lines.cart_key
)

select * from final
