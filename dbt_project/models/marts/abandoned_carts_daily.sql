{#- Carts per UTC day of their last activity (fct_carts): how many were ordered, abandoned, recovered, still open,
    and the money left in them. -#}
with

carts as (
    select
        cart_date,
        outcome,
        is_recovered,
        list_value,
        recovered_revenue,
        revenue_left_in_cart
    from {{ ref('fct_carts') }}
),

daily as (
    select
        cart_date as date_day,
        count(*) as carts,
        count(*) filter (where outcome = 'ordered') as ordered_carts,
        count(*) filter (where outcome = 'abandoned') as abandoned_carts,
        count(*) filter (where outcome = 'open') as open_carts,
        count(*) filter (where is_recovered) as recovered_carts,
        sum(list_value) as cart_value,
        coalesce(sum(list_value) filter (where outcome = 'abandoned'), 0) as abandoned_value,
        coalesce(sum(list_value) filter (where is_recovered), 0) as recovered_value,
        sum(recovered_revenue) as recovered_revenue,
        sum(revenue_left_in_cart) as revenue_left_in_cart
    from carts
    group by cart_date
),

final as (
    select
        date_day,
        carts::integer as carts,
        ordered_carts::integer as ordered_carts,
        abandoned_carts::integer as abandoned_carts,
        open_carts::integer as open_carts,
        recovered_carts::integer as recovered_carts,
        cart_value,
        abandoned_value,
        recovered_value,
        recovered_revenue,
        revenue_left_in_cart,
        round(abandoned_carts::{{ type_decimal() }} / nullif(ordered_carts + abandoned_carts, 0), 4)
            as abandonment_rate,
        round(recovered_carts::{{ type_decimal() }} / nullif(abandoned_carts, 0), 4) as recovery_rate
    from daily
)

select * from final
