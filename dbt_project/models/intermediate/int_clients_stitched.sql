{#-
    Identity stitching: each client is mapped to the last user id it was logged in as (its latest event that
    carries a user id, ties broken by event id). identity_changed_at moves only when that user changes, so the
    marts rebuild a client's history only then.
-#}
{{
    incremental_by_key(
        'client_id',
        indexes=[
            {'columns': ['client_id'], 'unique': true},
            {'columns': ['identity_changed_at']},
        ],
    )
}}

with

latest_identified as (
    select {{ distinct_on('client_id') }}
        client_id,
        user_id,
        event_at as identified_at,
        event_id as identified_event_id
    from {{ ref('stg_clickstream__events') }}
    where
        user_id is not null
        and {{ processed_since_last_run() }}
    {{ first_per_key('client_id', 'event_at desc, event_id desc') }}
),

{% if is_incremental() %}
compared as (
    select
        latest.client_id,
        latest.user_id as latest_user_id,
        latest.identified_at as latest_identified_at,
        latest.identified_event_id as latest_identified_event_id,
        previous.user_id as previous_user_id,
        previous.identified_at as previous_identified_at,
        previous.identified_event_id as previous_identified_event_id,
        previous.identity_changed_at as previous_identity_changed_at,
        previous.client_id is null
        or (latest.identified_at, latest.identified_event_id)
        > (previous.identified_at, previous.identified_event_id) as latest_wins
    from latest_identified as latest
    left join {{ this }} as previous on latest.client_id = previous.client_id
),

merged as (
    select
        client_id,
        case when latest_wins then latest_user_id else previous_user_id end as user_id,
        case when latest_wins then latest_identified_at else previous_identified_at end as identified_at,
        case
            when latest_wins then latest_identified_event_id else previous_identified_event_id
        end as identified_event_id,
        previous_user_id,
        previous_identity_changed_at
    from compared
),
{% else %}
merged as (
    select
        client_id,
        user_id,
        identified_at,
        identified_event_id,
        null::{{ type_text() }} as previous_user_id,
        null::{{ type_instant() }} as previous_identity_changed_at
    from latest_identified
),
{% endif %}

final as (
    select
        client_id,
        user_id,
        identified_at,
        identified_event_id,
        case
            when (user_id is distinct from previous_user_id) then {{ run_started() }}
            else previous_identity_changed_at
        end as identity_changed_at
    from merged
)

select * from final
