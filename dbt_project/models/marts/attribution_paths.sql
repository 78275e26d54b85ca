{#-
    Each shop order (a conversion) and the touches that led to it, with the credit every attribution model gives each
    touch. A touch is a session of the stitched customer — the order's user when it has one, and the client that
    placed it — that started within attribution_lookback_days before the order (and not after it); a session that
    only returned from a payment gateway or the shop's own pages is no touch (fct_sessions.is_referral_continuation).
    With attribution_collapse_repeats, consecutive touches of the same channel count once (the first of them).

    Per order and model the credits add up to 1 (to 12 decimals), and attributed revenue to the order's (paid)
    revenue:
      first_touch, last_touch     all to the first / last touch
      last_non_direct             all to the last touch whose channel is not direct (the last touch if all are)
      linear                      1/n each
      position_based              40% first, 40% last, 20% shared by the touches between (one touch: all; two: half)
      time_decay                  weights halving every attribution_half_life_days before the order, normalised
      markov                      each channel of the path by its removal effect (int_markov_removal_effects),
                                  normalised over the path's channels, shared by its touches of that channel; a path
                                  whose channels have no effect is shared linearly
    Orders with no touch (no tracked session of the customer in the window) have no rows.

    A plain table rebuilt by every build: an order's path changes with the customer's later-stitched sessions, its
    revenue with its status, and the Markov credits with the whole chain.
-#}
{%- set lookback = "interval '" ~ var('attribution_lookback_days') ~ " days'" %}
{%- set half_life_days = var('attribution_half_life_days') %}

with

orders as (
    select
        order_id,
        ordered_at,
        ordered_date,
        greatest(ordered_at, coalesce(tracked_at, ordered_at)) as converted_at,
        user_id,
        client_id,
        session_key,
        revenue,
        is_revenue
    from {{ ref('fct_orders') }}
),

sessions as (
    select
        session_key,
        client_id,
        user_id,
        started_at,
        channel,
        source,
        medium,
        campaign
    from {{ ref('fct_sessions') }}
    where not is_referral_continuation
),

-- the customer's sessions in the window: by the order's user, and by the client that placed it
candidate_touches as (
    select
        orders.order_id,
        sessions.*
    from orders
    inner join sessions
        on
            orders.user_id = sessions.user_id
            and sessions.started_at between orders.converted_at - {{ lookback }} and orders.converted_at
    union
    select
        orders.order_id,
        sessions.*
    from orders
    inner join sessions
        on
            orders.client_id = sessions.client_id
            and sessions.started_at between orders.converted_at - {{ lookback }} and orders.converted_at
),

ordered_touches as (
    select
        *,
        lag(channel) over (partition by order_id order by started_at, session_key) as previous_channel
    from candidate_touches
),

touches as (
    select
        *,
        row_number() over (partition by order_id order by started_at, session_key) as touch_number,
        count(*) over (partition by order_id) as touch_count
    from ordered_touches
    {%- if var('attribution_collapse_repeats') %}
    where previous_channel is distinct from channel
    {%- endif %}
),

last_non_direct as (
    select
        order_id,
        coalesce(max(touch_number) filter (where channel <> 'direct'), max(touch_number)) as touch_number
    from touches
    group by order_id
),

decay as (
    select
        touches.order_id,
        touches.session_key,
        power(
            0.5::{{ type_decimal() }},
            {{ seconds_between('touches.started_at', 'orders.converted_at') }} / 86400.0 / {{ half_life_days }}
        ) as weight
    from touches
    inner join orders on touches.order_id = orders.order_id
),

decay_totals as (
    select
        order_id,
        sum(weight) as total_weight
    from decay
    group by order_id
),

-- Markov: each path's channels, their removal effects, and the touches per channel
path_channels as (
    select
        touches.order_id,
        touches.channel,
        count(*) as channel_touches,
        coalesce(max(effects.removal_effect), 0) as removal_effect
    from touches
    left join {{ ref('int_markov_removal_effects') }} as effects on touches.channel = effects.channel
    group by touches.order_id, touches.channel
),

path_effects as (
    select
        order_id,
        sum(removal_effect) as total_effect
    from path_channels
    group by order_id
),

credited as (
    select
        touches.order_id,
        touches.touch_number,
        touches.touch_count,
        touches.session_key,
        touches.client_id,
        touches.user_id,
        touches.started_at as touched_at,
        touches.channel,
        touches.source,
        touches.medium,
        touches.campaign,
        case when touches.touch_number = 1 then 1.0 else 0.0 end as first_touch,
        case when touches.touch_number = touches.touch_count then 1.0 else 0.0 end as last_touch,
        case when touches.touch_number = last_non_direct.touch_number then 1.0 else 0.0 end as last_non_direct,
        1.0 / touches.touch_count as linear,
        case
            when touches.touch_count = 1 then 1.0
            when touches.touch_count = 2 then 0.5
            when touches.touch_number in (1, touches.touch_count) then 0.4
            else 0.2 / (touches.touch_count - 2)
        end as position_based,
        decay.weight / decay_totals.total_weight as time_decay,
        case
            when path_effects.total_effect > 0
                then {{ precise_ratio('path_channels.removal_effect', 'path_effects.total_effect') }}
                    / path_channels.channel_touches
            else 1.0 / touches.touch_count
        end as markov
    from touches
    inner join last_non_direct on touches.order_id = last_non_direct.order_id
    inner join decay on touches.order_id = decay.order_id and touches.session_key = decay.session_key
    inner join decay_totals on touches.order_id = decay_totals.order_id
    inner join path_channels on touches.order_id = path_channels.order_id and touches.channel = path_channels.channel
    inner join path_effects on touches.order_id = path_effects.order_id
),

final as (
    select
        orders.order_id,
        orders.ordered_at,
        orders.ordered_date,
        orders.revenue,
        orders.is_revenue,
        credited.touch_number::integer as touch_number,
        credited.touch_count::integer as touch_count,
        credited.session_key,
        credited.client_id,
        credited.user_id,
        credited.touched_at,
        credited.channel,
        credited.source,
        credited.medium,
        credited.campaign,
        {{ decimal_rounded('credited.first_touch', 12) }} as first_touch,
        {{ decimal_rounded('credited.last_touch', 12) }} as last_touch,
        {{ decimal_rounded('credited.last_non_direct', 12) }} as last_non_direct,
        {{ decimal_rounded('credited.linear', 12) }} as linear,
        {{ decimal_rounded('credited.position_based', 12) }} as position_based,
        {{ decimal_rounded('credited.time_decay', 12) }} as time_decay,
        {{ decimal_rounded('credited.markov', 12) }} as markov
    from credited
    inner join orders on credited.order_id = orders.order_id
)

select * from final
