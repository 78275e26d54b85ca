{#-
    Every field path the events' payloads have carried (`product.price`, `element.dataset.orderId`, `_ingest.sentAt`;
    three levels deep), with the event time of the first event that carried it: the data health monitor's "new
    payload field first seen".

    Incremental by field: a run reads the raw rows written since the last one (by the loader's transaction ids, as
    stg_clickstream__events does) and keeps, per field, the earliest event time seen. A field once seen stays seen:
    an event later replaced by an earlier-received copy without it does not un-see it.
-#}
{{
    incremental_by_key(
        'field_path',
        reads_raw=true,
        indexes=[{'columns': ['field_path'], 'unique': true}],
    )
}}

with

source as (
    select
        event_at,
        payload
    from {{ source('raw', 'events') }}
    where {{ new_raw_rows('load_txid') }}
),

paths as (
    select
        source.event_at,
        level_1.key as level_1_key,
        level_2.key as level_2_key,
        level_3.key as level_3_key
    from source
    cross join lateral jsonb_each(source.payload) as level_1
    left join lateral jsonb_each(
        case when jsonb_typeof(level_1.value) = 'object' then level_1.value end
    ) as level_2 on true
    left join lateral jsonb_each(
        case when jsonb_typeof(level_2.value) = 'object' then level_2.value end
    ) as level_3 on true
),

fields as (
    select
        field.field_path,
        min(paths.event_at) as first_seen_at
    from paths
    cross join
        lateral unnest(array[
            paths.level_1_key,
            paths.level_1_key || '.' || paths.level_2_key,
            paths.level_1_key || '.' || paths.level_2_key || '.' || paths.level_3_key
        ]) as field (field_path)
    where field.field_path is not null
    group by field.field_path
),

{% if is_incremental() %}
merged as (
    select
        fields.field_path,
        least(fields.first_seen_at, seen.first_seen_at) as first_seen_at
    from fields
    left join {{ this }} as seen on fields.field_path = seen.field_path
),
{% else %}
merged as (
    select
        field_path,
        first_seen_at
    from fields
),
{% endif %}

final as (
    select
        field_path,
        first_seen_at,
        left(field_path, 1) = '_' as is_added_by_platform
    from merged
)

select * from final
