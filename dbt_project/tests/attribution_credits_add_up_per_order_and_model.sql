-- Per order and attribution model the credits add up to 1 (each is rounded to 12 decimals), and the attributed
-- revenue of the daily marts adds up to the revenue of the orders with a touch. Rows: what does not.
with

credits as (
    select
        order_id,
        sum(first_touch) as first_touch,
        sum(last_touch) as last_touch,
        sum(last_non_direct) as last_non_direct,
        sum(linear) as linear,
        sum(position_based) as position_based,
        sum(time_decay) as time_decay,
        sum(markov) as markov
    from {{ ref('attribution_paths') }}
    group by order_id
),

off_by_order as (
    select
        order_id as what,
        greatest(
            abs(first_touch - 1), abs(last_touch - 1), abs(last_non_direct - 1), abs(linear - 1),
            abs(position_based - 1), abs(time_decay - 1), abs(markov - 1)
        ) as difference
    from credits
),

orders as (
    select
        ordered_date,
        sum(revenue) as revenue,
        count(*) as orders
    from (
        select distinct
            order_id,
            ordered_date,
            revenue
        from {{ ref('attribution_paths') }}
    ) as attributed
    group by ordered_date
),

daily as (
    select
        date_day,
        model,
        sum(attributed_revenue) as revenue,
        sum(attributed_conversions) as conversions
    from {{ ref('attribution_channel_daily') }}
    group by date_day, model
),

off_by_day as (
    select
        daily.date_day::text || ' ' || daily.model as what,
        greatest(
            abs(daily.revenue - orders.revenue) / greatest(orders.orders, 1), abs(daily.conversions - orders.orders)
        ) as difference
    from daily
    inner join orders on daily.date_day = orders.ordered_date
)

select * from off_by_order
where difference > 0.000000001
union all
-- revenue is rounded to 2 decimals per day, model and channel: at most a few hundredths of a đồng per order
select * from off_by_day
where difference > 0.05
