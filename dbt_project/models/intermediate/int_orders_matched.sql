{#-
    Which tracked purchase (checkout_complete event) placed each shop order: one row per matched pair, each order and
    each event at most once.

    1. order_id: the event names the order, by its id (dataset.orderId) or else its number (dataset.orderNumber).
       An event naming two orders takes the one its id names; an order named by several events (the success page
       reloaded) takes the earliest, and the others stay unmatched (duplicates in order_reconciliation_daily).
    2. user_time: an order not matched by id and an event naming no order, of the same stitched user, within
       order_match_window_minutes of each other. Ambiguities (a user with several orders and purchases close
       together) are resolved greedily by time distance, then order id, then event id: in each round every pair that
       is the closest for both its order and its event is matched, and the next round goes on with the rest
       (order_match_rounds rounds; each resolves at least the closest pair of every group, and the result is the
       greedy matching of the pairs sorted by distance).
    Orders of no tracked purchase stay unmatched (match_method none in fct_orders).
-#}
{%- set window = "interval '" ~ var('order_match_window_minutes') ~ " minutes'" %}

with

{% set candidate_ctes -%}
orders as (
    select
        order_id,
        order_number,
        user_id,
        ordered_at
    from {{ ref('stg_shop__orders') }}
),

purchases as (
    select
        event_id,
        event_at,
        user_id,
        order_id as sent_order_id,
        order_number as sent_order_number
    from {{ ref('int_tracked_purchases') }}
),

-- 1. the event names the order: by id (first choice) or by number
named as (
    select
        orders.order_id,
        purchases.event_id,
        purchases.event_at,
        1 as name_rank
    from orders
    inner join purchases on orders.order_id = purchases.sent_order_id
    union all
    select
        orders.order_id,
        purchases.event_id,
        purchases.event_at,
        2 as name_rank
    from orders
    inner join purchases on orders.order_number = purchases.sent_order_number
),

named_by_event as (
    select
        order_id,
        event_id,
        event_at,
        row_number() over (partition by event_id order by name_rank asc, order_id asc) as event_choice
    from named
),

named_by_order as (
    select
        order_id,
        event_id,
        row_number() over (partition by order_id order by event_at asc, event_id asc) as order_choice
    from named_by_event
    where event_choice = 1
),

id_matches as (
    select
        order_id,
        event_id,
        'order_id' as match_method,
        null::{{ type_decimal() }} as match_distance_seconds
    from named_by_order
    where order_choice = 1
),

-- 2. the same stitched user around the order's time, for the orders and events left (events naming no order)
time_candidates as (
    select
        orders.order_id,
        purchases.event_id,
        round(abs({{ seconds_between('orders.ordered_at', 'purchases.event_at') }}), 3) as distance_seconds
    from orders
    inner join purchases
        on
            orders.user_id = purchases.user_id
            and purchases.event_at between orders.ordered_at - {{ window }} and orders.ordered_at + {{ window }}
    where
        purchases.sent_order_id is null
        and purchases.sent_order_number is null
        and not exists (
            select 1 from id_matches
            where id_matches.order_id = orders.order_id
        )
)
{%- endset %}
{{ candidate_ctes }},


-- nothing is taken before the first round
{% call reused_cte('taken_0', candidate_ctes) %}
    select
        order_id,
        event_id
    from time_candidates
    where false
{%- endcall %}

{% for pass_number in range(1, var('order_match_rounds') + 1) %}
{%- set taken_before = reused('taken_' ~ (pass_number - 1)) %}
{% call reused_cte('round_' ~ pass_number ~ '_candidates', candidate_ctes) %}
    select
        time_candidates.order_id,
        time_candidates.event_id,
        time_candidates.distance_seconds,
        row_number() over (
            partition by time_candidates.order_id
            order by time_candidates.distance_seconds asc, time_candidates.event_id asc
        ) as order_rank,
        row_number() over (
            partition by time_candidates.event_id
            order by time_candidates.distance_seconds asc, time_candidates.order_id asc
        ) as event_rank
    from time_candidates
    -- two anti-joins, not one with an or: each is hashed
    where
        not exists (
            select 1 from {{ taken_before }} as taken
            where taken.order_id = time_candidates.order_id
        )
        and not exists (
            select 1 from {{ taken_before }} as taken
            where taken.event_id = time_candidates.event_id
        )
{%- endcall %}

{% call reused_cte('round_' ~ pass_number, candidate_ctes) %}
    select
        order_id,
        event_id,
        distance_seconds
    from {{ reused('round_' ~ pass_number ~ '_candidates') }}
    where order_rank = 1 and event_rank = 1
{%- endcall %}

{% call reused_cte('taken_' ~ pass_number, candidate_ctes) %}
    select
        order_id,
        event_id
    from {{ taken_before }}
    union all
    select
        order_id,
        event_id
    from {{ reused('round_' ~ pass_number) }}
{%- endcall %}

{% endfor %}
time_matches as (
    {%- for pass_number in range(1, var('order_match_rounds') + 1) %}
    select
        order_id,
        event_id,
        'user_time' as match_method,
        distance_seconds as match_distance_seconds
    from {{ reused('round_' ~ pass_number) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

final as (
    select * from id_matches
    union all
    select * from time_matches
)

select * from final
