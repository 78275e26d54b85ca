{{ config(severity='warn') }}
-- int_orders_matched resolves ambiguous user_time pairs in order_match_rounds rounds; if an unmatched order and an
-- unmatched purchase naming no order, of the same user and within the window, are left, more rounds were needed
-- (raise the var order_match_rounds). Rows: the pairs left.
{%- set window = "interval '" ~ var('order_match_window_minutes') ~ " minutes'" %}
select
    orders.order_id,
    purchases.event_id
from {{ ref('fct_orders') }} as orders
inner join {{ ref('fct_events') }} as purchases
    on
        orders.user_id = purchases.user_id
        and purchases.event_at between orders.ordered_at - {{ window }} and orders.ordered_at + {{ window }}
where
    orders.match_method = 'none'
    and purchases.event_name = 'checkout_complete'
    and purchases.order_id is null
    and purchases.order_number is null
    and not exists (
        select 1 from {{ ref('fct_orders') }} as taken
        where taken.matched_event_id = purchases.event_id
    )
