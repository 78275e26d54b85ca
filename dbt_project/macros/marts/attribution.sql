{#- The attribution models, in the order the marts and the dashboard list them (columns of attribution_paths). -#}
{% macro attribution_models() -%}
    {{ return(['first_touch', 'last_touch', 'last_non_direct', 'linear', 'position_based', 'time_decay', 'markov']) }}
{%- endmacro %}

{#-
    Attributed conversions and revenue per UTC day of the order, model and `by` (columns of attribution_paths:
    channel, campaign), beside the ad spend of the day for the same `by` (stg_marketing__ad_spend) and its return
    (roas). attribution_channel_daily and attribution_campaign_daily are this macro.
-#}
{% macro attribution_by_day(by) -%}
{%- set keys = ['date_day', 'model'] + by %}
with

credits as (
    select
        paths.ordered_date as date_day,
        models.model,
        {%- for column in by %}
        {{ "coalesce(paths.campaign, '(not set)')" if column == 'campaign' else 'paths.' ~ column }} as {{ column }},
        {%- endfor %}
        models.credit,
        models.credit * paths.revenue as revenue
    from {{ ref('attribution_paths') }} as paths
    {{ unpivot('paths', attribution_models(), 'models', 'model', 'credit') }}
),

attributed as (
    select
        {{ keys | join(', ') }},
        sum(credit) as attributed_conversions,
        sum(revenue) as attributed_revenue
    from credits
    group by {{ keys | join(', ') }}
),

spend as (
    select
        date_day,
        {%- for column in by %}
        {{ column }},
        {%- endfor %}
        sum(spend) as spend
    from {{ ref('stg_marketing__ad_spend') }}
    group by date_day{% for column in by %}, {{ column }}{% endfor %}
),

-- every model has a row for every day and {{ by | join(' and ') }} with spend, attributed something or not
models as (
    select model
    from (
        values
        {%- for model in attribution_models() %}
        ('{{ model }}'){{ ',' if not loop.last }}
        {%- endfor %}
    ) as listed (model)
),

grid as (
    select {{ keys | join(', ') }} from attributed
    union
    select spend.date_day, models.model{% for column in by %}, spend.{{ column }}{% endfor %}
    from spend
    cross join models
),

final as (
    select
        {%- for column in keys %}
        grid.{{ column }},
        {%- endfor %}
        coalesce(attributed.attributed_conversions, 0) as attributed_conversions,
        round(coalesce(attributed.attributed_revenue, 0), 2) as attributed_revenue,
        spend.spend,
        round(attributed.attributed_revenue / nullif(spend.spend, 0), 4) as roas
    from grid
    left join attributed
        on
            {%- for column in keys %}
            {{ 'and ' if not loop.first }}grid.{{ column }} = attributed.{{ column }}
            {%- endfor %}
    left join spend
        on
            grid.date_day = spend.date_day
            {%- for column in by %}
            and grid.{{ column }} = spend.{{ column }}
            {%- endfor %}
)

select * from final
{%- endmacro %}
