{#-
    What the loader quarantined (raw.rejected_events), without the raw text: when, from which object, and why. The
    hour is the received hour of the object's lake partition (events/YYYY/MM/DD/HH/), else the hour it was rejected
    (keys outside that layout). `reason_kind` is the reason with quoted values, long numbers and positions replaced by …, so the
    same problem groups as one.
-#}
with

source as (
    select
        rejected_id,
        source_key,
        position,
        reason,
        load_id,
        rejected_at
    from {{ source('raw', 'rejected_events') }}
),

placed as (
    select
        *,
        {{ regex_group('source_key', "'(\\d{4}/\\d{2}/\\d{2}/\\d{2})/[^/]*$'") }} as partition_path
    from source
),

final as (
    select
        rejected_id,
        source_key,
        position,
        position is null as is_whole_object,
        reason,
        left(
            {{ regex_replace_all(
                regex_replace_all('reason', quoted_text("'[^']*'|\"[^\"]*\"|[0-9]{5,}"), "'…'"),
                "'(line|column|char|position|object|event) [0-9]+'", "'\\1 …'"
            ) }},
            160
        ) as reason_kind,
        load_id,
        rejected_at,
        coalesce({{ partition_hour('partition_path') }}, {{ utc_period_start('hour', 'rejected_at') }}) as hour_at
    from placed
)

select * from final
