{#-
    The cart's reconstruction, shared by fct_cart_items (the cart at each checkout) and fct_carts (each cart as it
    was last left): CTEs to place after a CTE `events` holding a client's cart events (add_to_cart_click,
    remove_from_cart_click, checkout_start, checkout_complete; columns of fct_events).

    numbered      every event with its cart_number: a completed checkout ends a cart, the next event starts the next
    line_states   each add or removal of a product sets its line until the product's next add or removal in the cart:
                  the quantity is the adds since the line was last removed (0 after a removal: a removal takes the
                  whole line), the prices the latest add's; next_event_at/next_event_id bound it (null: still so)
-#}
{% macro cart_line_states(events='events') -%}
numbered as (
    select
        *,
        coalesce(
            count(*) filter (where event_name = 'checkout_complete') over (
                partition by client_id order by event_at, event_id rows between unbounded preceding and 1 preceding
            ),
            0
        ) as cart_number
    from {{ events }}
),

line_changes as (
    select
        client_id,
        cart_number,
        product_id,
        event_name,
        event_at,
        event_id,
        product_name,
        product_category,
        product_brand,
        product_price,
        product_discount_price,
        count(*) filter (where event_name = 'remove_from_cart_click') over (
            partition by client_id, cart_number, product_id
            order by event_at, event_id rows between unbounded preceding and current row
        ) as removals_so_far
    from numbered
    where event_name in ('add_to_cart_click', 'remove_from_cart_click') and product_id is not null
),

-- materialized: joined to the checkouts, it must be computed once (a misestimated nested loop would redo it per row)
line_states as {{ materialized_cte() }} (
    select
        client_id,
        cart_number,
        product_id,
        event_at,
        event_id,
        product_name,
        product_category,
        product_brand,
        product_price,
        product_discount_price,
        case
            when event_name = 'add_to_cart_click'
                then count(*) filter (where event_name = 'add_to_cart_click') over line
            else 0
        end as quantity,
        lead(event_at) over line_events as next_event_at,
        lead(event_id) over line_events as next_event_id
    from line_changes
    window
        line as (
            partition by client_id, cart_number, product_id, removals_so_far
            order by event_at, event_id rows between unbounded preceding and current row
        ),
        line_events as (partition by client_id, cart_number, product_id order by event_at, event_id)
),
{%- endmacro %}

{#- The line state `states` holds at the moment (`at`, `event_id`) of the same cart: set before it (`inclusive`: or by
    that event itself), not yet replaced. -#}
{% macro line_state_at(states, at, event_id, inclusive=false) -%}
    ({{ states }}.event_at, {{ states }}.event_id) {{ '<=' if inclusive else '<' }} ({{ at }}, {{ event_id }})
    and (
        {{ states }}.next_event_at is null
        or ({{ at }}, {{ event_id }}) < ({{ states }}.next_event_at, {{ states }}.next_event_id)
    )
{%- endmacro %}
