{#-
    The data health monitor's statistics (marts.data_health_hourly), one macro per step, for every monitored count.
-#}

{#-
    The expected value of `column` in an hour: the median of the same hour of the week over the previous
    `health_baseline_weeks` weeks (4: the four values' middle two, averaged), read from the gap-free hour series
    ordered by hour_at (window `series`). Null until every week of the baseline exists.
-#}
{% macro weekly_median(column) -%}
    {%- set weeks = var('health_baseline_weeks') | int -%}
    {%- if weeks < 1 or weeks > 4 -%}
        {{ exceptions.raise_compiler_error("health_baseline_weeks must be 1 to 4, got " ~ weeks) }}
    {%- endif -%}
    {%- set values = [] -%}
    {%- for week in range(1, weeks + 1) -%}
        {%- do values.append('lag(' ~ column ~ ', ' ~ (168 * week) ~ ') over series') -%}
    {%- endfor -%}
    {%- if weeks <= 2 -%}
        (({{ values | join(' + ') }})::{{ type_decimal() }} / {{ weeks }})
    {%- else -%}
        {#- three or four values: the sum without the largest and the smallest (the middle one, or the middle two
            averaged) -#}
        (({{ values | join(' + ') }} - greatest({{ values | join(', ') }}) - least({{ values | join(', ') }}))::{{ type_decimal() }}
        / {{ weeks - 2 }})
    {%- endif -%}
{%- endmacro %}

{#-
    The residual the scores are made of: the distance between the value and its expected value on the square-root
    scale (Anscombe: for Poisson counts the square root has a spread of 1/2 whatever the mean, so a quiet hour and
    a busy one are judged alike, and zeros are ordinary values).
-#}
{% macro sqrt_residual(value, expected) -%}
    (sqrt({{ value }}) - sqrt({{ expected }}))
{%- endmacro %}

{#-
    The spread of a metric's residuals on a day, from the absolute residuals of the complete hours of the baseline's weeks before it:
    the larger of 1.4826 × their median (the MAD's normal scale), their 95th percentile ÷ 1.96 (a metric that is
    zero most hours and bursts now and then, such as crawlers, has a median of zero) and 1/2 (Poisson's floor).
    Null with fewer than a day of residuals.
-#}
{% macro robust_spread(median, high, hours) -%}
    case
        when {{ hours }} >= 24
            then greatest(0.5, 1.4826 * {{ median }}, {{ high }} / 1.96)
    end
{%- endmacro %}

{#- The anomaly score: the residual in spreads (negative: below the expected value). -#}
{% macro anomaly_score(value, expected, spread) -%}
    round(({{ sqrt_residual(value, expected) }} / {{ spread }})::{{ type_decimal() }}, 2)
{%- endmacro %}

{#- The expected band's edge at `direction` (-1 lower, +1 upper) spreads × the anomaly score, on the count scale. -#}
{% macro band_edge(expected, spread, direction) -%}
    round((power(greatest(0, sqrt({{ expected }}) + {{ direction }} * {{ var('health_anomaly_score') }} * {{ spread }}), 2))::{{ type_decimal() }}, 1)
{%- endmacro %}

{#-
    The rows of data_health_hourly the health tests judge: the latest health_alert_hours complete hours, and the
    current (incomplete) hour after them.
-#}
{% macro latest_health_hours() -%}
    select *
    from {{ ref('data_health_hourly') }}
    where hour_at >= (
        select coalesce(min(latest.hour_at), {{ end_of_time() }})
        from (
            select hour_at
            from {{ ref('data_health_hourly') }}
            where is_complete
            order by hour_at desc
            limit {{ var('health_alert_hours') }}
        ) as latest
    )
{%- endmacro %}
