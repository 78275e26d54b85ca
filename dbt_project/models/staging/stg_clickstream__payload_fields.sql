{#-
    Every field path of the tracker's payloads (`eventName`, `product.price`, `element.dataset.orderId`; three levels
    deep), with the event time of the first event that carried it: the data health monitor's "new payload field first
    seen". The platform's own blocks (top-level keys starting with `_`: _ingest, _enriched, _contract) are left out.

    Incremental by field: a run reads the raw rows written since the last one (by the loader's transaction ids, as
    stg_clickstream__events does) and keeps, per field, the earliest event time seen. A field once seen stays seen:
    an event later replaced by an earlier-received copy without it does not un-see it. Each level is expanded on its
    own (objects only), not as a product of the three: a full build reads 300k events' fields in about 6 s.
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

level_1 as (
    select
        source.event_at,
        members.key as field_path,
        members.value
    from source
    {{ json_members('source.payload', 'members') }}
    where left(members.key, 1) <> '_'
),

level_2 as (
    select
        level_1.event_at,
        level_1.field_path || '.' || members.key as field_path,
        members.value
    from level_1
    {{ json_members('level_1.value', 'members') }}
    where {{ json_is_object('level_1.value') }}
),

level_3 as (
    select
        level_2.event_at,
        level_2.field_path || '.' || members.key as field_path
    from level_2
    {{ json_keys('level_2.value', 'members') }}
    where {{ json_is_object('level_2.value') }}
),

paths as (
    select
        event_at,
        field_path
    from level_1
    union all
    select
        event_at,
        field_path
    from level_2
    union all
    select
        event_at,
        field_path
    from level_3
),

fields as (
    select
        field_path,
        min(event_at) as first_seen_at
    from paths
    group by field_path
),

{% if is_incremental() %}
final as (
    select
        fields.field_path,
        least(fields.first_seen_at, seen.first_seen_at) as first_seen_at
    from fields
    left join {{ this }} as seen on fields.field_path = seen.field_path
)
{% else %}
final as (
    select
        field_path,
        first_seen_at
    from fields
)
{% endif %}

select * from final
