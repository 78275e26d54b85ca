{#-
    What the loader quarantined, per UTC day and kind of reason (values and positions blanked), for the dashboard's
    Data health page: counts, objects and an example key, never the raw text. A plain table (the quarantine is small).
-#}
with

rejected as (
    select
        {{ utc_date('hour_at') }} as date_day,
        reason_kind,
        reason,
        source_key,
        is_whole_object,
        rejected_at
    from {{ ref('stg_clickstream__rejected_events') }}
),

final as (
    select
        date_day,
        reason_kind as reason,
        count(*)::integer as rejected,
        count(*) filter (where is_whole_object)::integer as whole_objects,
        count(distinct source_key)::integer as raw_objects,
        min(reason) as example_reason,
        max(source_key) as example_source_key,
        min(rejected_at) as first_rejected_at,
        max(rejected_at) as last_rejected_at
    from rejected
    group by date_day, reason_kind
)

select * from final
