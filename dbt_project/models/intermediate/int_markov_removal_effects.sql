{#-
    The removal effect of each channel in a first-order Markov chain of the customers' paths (int_attribution_chain_
    paths: converting paths end in conversion, the others in null). States: start, the channels, conversion, null;
    transition probabilities are the observed transitions' shares. The conversion probability is the chance to reach
    conversion from start; removing a channel sends every transition into it to null; its removal effect is
    1 - (conversion probability without it) / (conversion probability). attribution_paths shares each order's credit
    among its path's channels by these effects.

    The probabilities come from the one-step transition matrix squared markov_squarings times (the chances after
    2^markov_squarings steps; what has reached neither conversion nor null by then is reported as unabsorbed), for
    every removal at once. Hand-written in SQL (no dbt package or Python model runs here): a few thousand products
    of a matrix of ~20 states per scenario. A plain table over the chain's bounded window, rebuilt by every build.
-#}
{%- set squarings = var('markov_squarings') %}

with

{% set chain_ctes -%}
paths as (
    select
        path_id,
        step,
        channel,
        is_converting
    from {{ ref('int_attribution_chain_paths') }}
),

-- every transition of every path: start → first channel → ... → last channel → conversion or null
transitions as (
    select
        coalesce(lag(channel) over (partition by path_id order by step), '(start)') as from_state,
        channel as to_state
    from paths
    union all
    select
        channel as from_state,
        case when is_converting then '(conversion)' else '(null)' end as to_state
    from (
        select
            path_id,
            channel,
            is_converting,
            row_number() over (partition by path_id order by step desc) as from_end
        from paths
    ) as last_steps
    where from_end = 1
),

probabilities as (
    select
        from_state,
        to_state,
        count(*)::{{ type_double() }} / sum(count(*)) over (partition by from_state) as probability
    from transitions
    group by from_state, to_state
),

channels as (
    select distinct channel from paths
),

-- the chain as it is ('(none)' removed), and without each channel: transitions into it go to null
scenarios as (
    select '(none)' as removed
    union all
    select channel as removed from channels
),

chains as (
    select
        scenarios.removed,
        probabilities.from_state,
        case when probabilities.to_state = scenarios.removed then '(null)' else probabilities.to_state end as to_state,
        probabilities.probability
    from scenarios
    cross join probabilities
    where probabilities.from_state <> scenarios.removed
),

-- the chance to go from a state to another in one step, the absorbing states staying where they are
matrix_0 as (
    select
        removed,
        from_state,
        to_state,
        probability
    from chains
    union all
    select
        scenarios.removed,
        absorbing.state as from_state,
        absorbing.state as to_state,
        1.0::{{ type_double() }} as probability
    from scenarios
    cross join (values ('(conversion)'), ('(null)')) as absorbing (state)
)
{%- endset %}
{{ chain_ctes }},

-- squared markov_squarings times: the chances after 2, 4, 8, ... steps (1024 after 10: long cycles are followed
-- to their end)
{%- for squaring in range(1, squarings + 1) %}
{%- set previous = reused('matrix_' ~ (squaring - 1)) if squaring > 1 else 'matrix_0' %}
{% call reused_cte('matrix_' ~ squaring, chain_ctes) %}
    select
        first_half.removed,
        first_half.from_state,
        second_half.to_state,
        sum(first_half.probability * second_half.probability) as probability
    from {{ previous }} as first_half
    inner join {{ previous }} as second_half
        on first_half.removed = second_half.removed and first_half.to_state = second_half.from_state
    group by first_half.removed, first_half.from_state, second_half.to_state
    -- chances below 1e-30 are dropped (negligible; their products would underflow double precision)
    having sum(first_half.probability * second_half.probability) >= 1e-30
{%- endcall %}
{% endfor %}

outcomes as (
    select
        removed,
        coalesce(sum(probability) filter (where to_state = '(conversion)'), 0) as conversion_probability,
        coalesce(sum(probability) filter (where to_state not in ('(conversion)', '(null)')), 0) as unabsorbed
    from {{ reused('matrix_' ~ squarings) }}
    where from_state = '(start)'
    group by removed
),

baseline as (
    select
        conversion_probability,
        unabsorbed
    from outcomes
    where removed = '(none)'
),

effects as (
    select
        channels.channel,
        baseline.conversion_probability,
        coalesce(removal.conversion_probability, 0) as conversion_probability_without,
        case
            when baseline.conversion_probability > 0
                then greatest(0.0, 1 - coalesce(removal.conversion_probability, 0) / baseline.conversion_probability)
            else 0
        end as removal_effect,
        baseline.unabsorbed
    from channels
    cross join baseline
    left join outcomes as removal on channels.channel = removal.removed
),

final as (
    select
        channel,
        {{ decimal_rounded('conversion_probability', 12) }} as conversion_probability,
        {{ decimal_rounded('conversion_probability_without', 12) }} as conversion_probability_without,
        {{ decimal_rounded('removal_effect', 12) }} as removal_effect,
        {{ decimal_rounded('removal_effect / nullif(sum(removal_effect) over (), 0)', 12) }} as removal_effect_share,
        {{ decimal_rounded('unabsorbed', 12) }} as unabsorbed
    from effects
)

select * from final
