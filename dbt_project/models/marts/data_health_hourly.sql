{#-
    Data health, one row per UTC hour from the first hour with data to the hour the warehouse last looked at the
    lake (the latest load run's end, or var health_as_of to replay an earlier moment): hours without a single event
    are rows too, since a dead tracker is zero events. What the tracker sent (every event, bots' too), what the
    loader quarantined, and for each monitored count its expected value and an anomaly score, then the anomalies
    found.

    - Expected value: the median of the same hour of the week over the previous health_baseline_weeks (4) weeks.
    - Score: (√value − √expected) ÷ spread, where the spread is the robust scale of the same square-root residuals
      over the baseline's weeks (macros/marts/health.sql): the square root makes quiet and busy hours, and zeros,
      comparable; the spread learns how bursty each count is (visits come in clusters of events, crawlers in
      bursts), so normal traffic does not flap.
    - Flags (complete hours only, |score| ≥ health_anomaly_score): volume_drop (expected ≥ health_min_events) and
      volume_spike (events ≥ health_min_events); rejected_spike (at least health_min_burst_events of them);
      bot_spike, late_spike (at least health_min_storm_events of them and health_spike_ratio × the hour's expected
      events: a crawler reading a few dozen pages or a tracker's queue flushed is routine, a storm outnumbers the
      visitors); no_checkouts (no checkout_complete since the last one while
      health_min_expected_checkouts were expected); low_capture_rate (the last 24 hours' orders, at least
      health_min_orders, matched below health_min_capture_rate); and in any hour after the first
      health_warmup_hours: unknown_event_name (a name outside the seed event_names, first seen) and
      new_payload_field (a field the tracker had never sent).

    A plain table: its inputs are per-hour counts (intermediate.int_events_counted_by_hour, incremental), the
    loader's quarantine, the first-seen fields and the shop's orders, a few thousand rows a year; rebuilding it whole
    keeps the baselines, the series' end and the first-seen flags right without bookkeeping.
-#}
{%- set threshold = var('health_anomaly_score') %}
{%- set weeks = var('health_baseline_weeks') | int %}
{%- set as_of = var('health_as_of', none) %}

with

counted as (
    select
        hour_at,
        events,
        events_by_name,
        checkout_complete_events,
        quarantined_events,
        late_events
    from {{ ref('int_events_counted_by_hour') }}
),

rejected as (
    select
        hour_at,
        count(*)::integer as rejected_events
    from {{ ref('stg_clickstream__rejected_events') }}
    group by hour_at
),

known_names as (
    select event_name
    from {{ ref('event_names') }}
),

name_first_hours as (
    select
        name_keys.key as event_name,
        min(counted.hour_at) as first_hour_at
    from counted
    {{ json_keys('counted.events_by_name', 'name_keys') }}
    group by name_keys.key
),

fields_first_seen as (
    select
        field_path,
        {{ utc_period_start('hour', 'first_seen_at') }} as hour_at
    from {{ ref('stg_clickstream__payload_fields') }}
),

new_fields as (
    select
        hour_at,
        {{ sorted_array_agg('field_path') }} as new_payload_fields
    from fields_first_seen
    group by hour_at
),

placed_orders as (
    select
        {{ utc_period_start('hour', 'ordered_at') }} as hour_at,
        match_method <> 'none' as is_matched
    from {{ ref('fct_orders') }}
),

orders as (
    select
        hour_at,
        count(*)::integer as shop_orders,
        count(*) filter (where is_matched)::integer as matched_orders
    from placed_orders
    group by hour_at
),

shop as (
    select coalesce(bool_or(true), false) as has_orders
    from {{ ref('fct_orders') }}
),

as_of as (
    select
        coalesce(
            {% if as_of %}'{{ as_of }}'::{{ type_instant() }}{% else %}null::{{ type_instant() }}{% endif %},
            (
                select max(finished_at)
                from {{ ref('stg_clickstream__load_runs') }}
            ),
            {{ dbt.current_timestamp() }}
        ) as as_of_at
),

data_hours as (
    select hour_at from counted
    union
    select hour_at from rejected
),

-- up to the hour of as_of (data after it exists only when health_as_of replays an earlier moment)
bounds as (
    select
        min(data_hours.hour_at) as first_hour_at,
        {{ utc_period_start('hour', 'as_of.as_of_at') }} as last_hour_at,
        as_of.as_of_at
    from data_hours
    cross join as_of
    group by as_of.as_of_at
),

hours as (
    select
        series.hour_at,
        bounds.first_hour_at,
        bounds.as_of_at
    from bounds
    {{ hour_series('bounds.first_hour_at', 'bounds.last_hour_at', 'series', 'hour_at') }}
),

hour_name_events as (
    select
        counted.hour_at,
        by_name.key as event_name,
        (by_name.value)::integer as events
    from counted
    {{ json_members('counted.events_by_name', 'by_name') }}
),

hour_names as (
    select
        by_name.hour_at,
        sum(by_name.events) filter (where known_names.event_name is null)::integer as unknown_events,
        {{ sorted_array_agg('by_name.event_name', where='known_names.event_name is null') }} as unknown_event_names,
        {{ sorted_array_agg(
            'by_name.event_name',
            where='known_names.event_name is null and name_first_hours.first_hour_at = by_name.hour_at'
        ) }} as new_event_names
    from hour_name_events as by_name
    left join known_names on by_name.event_name = known_names.event_name
    left join name_first_hours on by_name.event_name = name_first_hours.event_name
    group by by_name.hour_at
),

measured as (
    select
        hours.hour_at,
        {{ utc_date('hours.hour_at') }} as date_day,
        {{ utc_period_start('day', 'hours.hour_at') }} as day_start_at,
        hours.hour_at + interval '1 hour' <= hours.as_of_at as is_complete,
        hours.hour_at >= hours.first_hour_at + interval '{{ var("health_warmup_hours") }} hours' as is_past_warmup,
        hours.as_of_at,
        coalesce(counted.events, 0) as events,
        coalesce(rejected.rejected_events, 0) as rejected_events,
        coalesce(counted.events_by_name, {{ json_empty_object() }}) as events_by_name,
        coalesce(counted.checkout_complete_events, 0) as checkout_complete_events,
        coalesce(counted.quarantined_events, 0) as quarantined_events,
        coalesce(counted.late_events, 0) as late_events,
        coalesce(hour_names.unknown_events, 0) as unknown_events,
        coalesce(hour_names.unknown_event_names, {{ empty_text_array() }}) as unknown_event_names,
        coalesce(hour_names.new_event_names, {{ empty_text_array() }}) as new_event_names,
        coalesce(new_fields.new_payload_fields, {{ empty_text_array() }}) as new_payload_fields,
        case when shop.has_orders then coalesce(orders.shop_orders, 0) end as shop_orders,
        case when shop.has_orders then coalesce(orders.matched_orders, 0) end as matched_orders
    from hours
    cross join shop
    left join counted on hours.hour_at = counted.hour_at
    left join rejected on hours.hour_at = rejected.hour_at
    left join hour_names on hours.hour_at = hour_names.hour_at
    left join new_fields on hours.hour_at = new_fields.hour_at
    left join orders on hours.hour_at = orders.hour_at
),

baselines as (
    select
        *,
        {{ weekly_median('events') }} as expected_events,
        {{ weekly_median('checkout_complete_events') }} as expected_checkouts,
        {{ weekly_median('quarantined_events') }} as expected_quarantined_events,
        {{ weekly_median('rejected_events') }} as expected_rejected_events,
        {{ weekly_median('late_events') }} as expected_late_events,
        sum(shop_orders) over last_day as orders_24h,
        sum(matched_orders) over last_day as matched_orders_24h
    from measured
    window
        series as (order by hour_at),
        last_day as (order by hour_at rows between 23 preceding and current row)
),

residuals as (
    select
        hour_at,
        abs({{ sqrt_residual('events', 'expected_events') }}) as events_residual,
        abs({{ sqrt_residual('quarantined_events', 'expected_quarantined_events') }}) as quarantined_residual,
        abs({{ sqrt_residual('rejected_events', 'expected_rejected_events') }}) as rejected_residual,
        abs({{ sqrt_residual('late_events', 'expected_late_events') }}) as late_residual
    from baselines
    where is_complete and expected_events is not null
),

days as (
    select distinct day_start_at
    from baselines
),

-- each day's residuals' median and 95th percentile over the baseline's weeks before it (not the day's own hours)
window_stats as (
    select
        days.day_start_at,
        count(residuals.hour_at) as hours,
    {%- for metric in ['events', 'quarantined', 'rejected', 'late'] %}
    percentile_cont(0.5) within group (order by residuals.{{ metric }}_residual) as {{ metric }}_median,
    percentile_cont(0.95) within group (order by residuals.{{ metric }}_residual) as {{ metric }}_high
    {{- ',' if not loop.last }}
    {%- endfor %}
    from days
    left join residuals
        on
            residuals.hour_at >= days.day_start_at - interval '{{ weeks * 7 }} days'
            and days.day_start_at > residuals.hour_at
    group by days.day_start_at
),

spreads as (
    select
        day_start_at,
    {%- for metric in ['events', 'quarantined', 'rejected', 'late'] %}
    {{ robust_spread(metric ~ '_median', metric ~ '_high', 'hours') }} as {{ metric }}_spread
    {{- ',' if not loop.last }}
    {%- endfor %}
    from window_stats
),

scored as (
    select
        baselines.*,
        spreads.events_spread,
        {{ anomaly_score('baselines.events', 'baselines.expected_events', 'spreads.events_spread') }} as events_score,
        {{ band_edge('baselines.expected_events', 'spreads.events_spread', -1) }} as expected_events_lower,
        {{ band_edge('baselines.expected_events', 'spreads.events_spread', 1) }} as expected_events_upper,
        {{ anomaly_score('baselines.quarantined_events', 'baselines.expected_quarantined_events',
                         'spreads.quarantined_spread') }} as quarantined_score,
        {{ anomaly_score('baselines.rejected_events', 'baselines.expected_rejected_events',
                         'spreads.rejected_spread') }} as rejected_score,
        {{ anomaly_score('baselines.late_events', 'baselines.expected_late_events', 'spreads.late_spread') }}
            as late_score,
        -- hours since the last checkout_complete share its island; the expected checkouts of those empty hours add up
        count(*) filter (where baselines.checkout_complete_events > 0) over (order by baselines.hour_at)
            as checkout_island
    from baselines
    left join spreads on baselines.day_start_at = spreads.day_start_at
),

checkouts as (
    select
        *,
        coalesce(
            sum(expected_checkouts) filter (where checkout_complete_events = 0 and is_complete) over (
                partition by checkout_island order by hour_at
            ),
            0
        ) as expected_checkouts_since_last
    from scored
),

flagged as (
    select
        *,
        {% set flags -%}
            case
                when
                    is_complete and events_score <= -{{ threshold }}
                    and expected_events >= {{ var('health_min_events') }}
                    then 'volume_drop'
            end,
            case
                when is_complete and events_score >= {{ threshold }} and events >= {{ var('health_min_events') }}
                    then 'volume_spike'
            end,
            case
                when
                    is_complete and checkout_complete_events = 0
                    and expected_checkouts_since_last >= {{ var('health_min_expected_checkouts') }}
                    then 'no_checkouts'
            end,
            case
                when
                    is_complete and quarantined_score >= {{ threshold }}
                    and quarantined_events >= {{ var('health_min_storm_events') }}
                    and quarantined_events >= {{ var('health_spike_ratio') }} * coalesce(expected_events, 0)
                    then 'bot_spike'
            end,
            case
                when
                    is_complete and rejected_score >= {{ threshold }}
                    and rejected_events >= {{ var('health_min_burst_events') }}
                    then 'rejected_spike'
            end,
            case
                when
                    is_complete and late_score >= {{ threshold }}
                    and late_events >= {{ var('health_min_storm_events') }}
                    and late_events >= {{ var('health_spike_ratio') }} * coalesce(expected_events, 0)
                    then 'late_spike'
            end,
            case
                when
                    is_complete and orders_24h >= {{ var('health_min_orders') }}
                    and matched_orders_24h::{{ type_decimal() }} / orders_24h < {{ var('health_min_capture_rate') }}
                    then 'low_capture_rate'
            end,
            case when is_past_warmup and cardinality(new_event_names) > 0 then 'unknown_event_name' end,
            case when is_past_warmup and cardinality(new_payload_fields) > 0 then 'new_payload_field' end
        {%- endset %}
        {{ array_without_nulls(flags) }} as anomalies
    from checkouts
),

final as (
    select
        hour_at,
        date_day,
        is_complete,
        as_of_at,
        events,
        rejected_events,
        round(rejected_events::{{ type_decimal() }} / nullif(events + rejected_events, 0), 4) as rejected_share,
        events_by_name,
        checkout_complete_events,
        quarantined_events,
        round(quarantined_events::{{ type_decimal() }} / nullif(events, 0), 4) as bot_share,
        late_events,
        round(late_events::{{ type_decimal() }} / nullif(events, 0), 4) as late_share,
        unknown_events,
        unknown_event_names,
        new_event_names,
        new_payload_fields,
        shop_orders,
        matched_orders,
        round(matched_orders::{{ type_decimal() }} / nullif(shop_orders, 0), 4) as capture_rate,
        orders_24h::integer as orders_24h,
        round(matched_orders_24h::{{ type_decimal() }} / nullif(orders_24h, 0), 4) as capture_rate_24h,
        round(expected_events, 1) as expected_events,
        expected_events_lower,
        expected_events_upper,
        events_score,
        round(expected_checkouts, 1) as expected_checkouts,
        round(expected_checkouts_since_last, 1) as expected_checkouts_since_last,
        round(expected_quarantined_events, 1) as expected_quarantined_events,
        quarantined_score,
        round(expected_rejected_events, 1) as expected_rejected_events,
        rejected_score,
        round(expected_late_events, 1) as expected_late_events,
        late_score,
        {{ arrays_overlap('anomalies', "'volume_drop', 'volume_spike'") }} as is_volume_anomaly,
        cardinality(anomalies) > 0 as is_anomaly,
        anomalies
    from flagged
)

select * from final
