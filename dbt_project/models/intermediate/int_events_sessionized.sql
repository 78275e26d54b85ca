{#-
    Server-side sessions: a run of one client's events in which no gap exceeds session_timeout_minutes.
    Browser tabs (the tracker's per-tab session ids) of one client merge; a login does not split.

    Incremental: for each client with changed events (new ones, and the old place of an event replaced by
    an earlier-received copy), recompute a window: from the start of the earliest existing session within
    the timeout of the first change, to the end of the latest existing session within the timeout of the
    last change. Both ends are session boundaries whatever arrived, so the result equals a full rebuild,
    for late events of any age, and sessions outside the window are left alone. Each recomputed row keeps
    its window (recomputed_from, recomputed_until), which is what the models downstream rebuild.
-#}
{{
    incremental_by_key(
        'event_id',
        indexes=[
            {'columns': ['event_id'], 'unique': true},
            {'columns': ['client_id', 'event_at']},
            {'columns': ['dbt_processed_at']},
        ],
    )
}}

{%- set timeout = "interval '" ~ var('session_timeout_minutes') ~ " minutes'" %}

with

{% if is_incremental() %}
staged_since_last_run as (
    select
        staged.client_id,
        staged.event_at,
        previous.client_id as previous_client_id,
        previous.event_at as previous_event_at
    from {{ ref('stg_clickstream__events') }} as staged
    left join {{ this }} as previous on staged.event_id = previous.event_id
    where {{ processed_since_last_run('staged.dbt_processed_at') }}
),

changed_points as (
    select
        client_id,
        event_at
    from staged_since_last_run
    union all
    -- an event replaced by an earlier-received copy may have moved: its old place changes too
    select
        previous_client_id as client_id,
        previous_event_at as event_at
    from staged_since_last_run
    where previous_client_id is not null
),

changed_clients as (
    select
        client_id,
        min(event_at) as first_changed_at,
        max(event_at) as last_changed_at
    from changed_points
    group by client_id
),

recompute_scope as (
    select
        changed_client.client_id,
        least(
            changed_client.first_changed_at,
            (
                select min(built.session_started_at)
                from {{ this }} as built
                where
                    built.client_id = changed_client.client_id
                    and built.event_at >= changed_client.first_changed_at - {{ timeout }}
            )
        ) as recompute_from,
        greatest(
            changed_client.last_changed_at,
            (
                select max(built.session_ended_at)
                from {{ this }} as built
                where
                    built.client_id = changed_client.client_id
                    and built.event_at
                    between changed_client.last_changed_at - {{ timeout }}
                    and changed_client.last_changed_at + {{ timeout }}
            )
        ) as recompute_until
    from changed_clients as changed_client
),

events as (
    select
        staged.event_id,
        staged.client_id,
        staged.event_at,
        scope.recompute_from,
        scope.recompute_until
    from {{ ref('stg_clickstream__events') }} as staged
    inner join recompute_scope as scope
        on
            staged.client_id = scope.client_id
            and staged.event_at between scope.recompute_from and scope.recompute_until
),
{% else %}
events as (
    select
        event_id,
        client_id,
        event_at,
        {{ start_of_time() }} as recompute_from,
        {{ end_of_time() }} as recompute_until
    from {{ ref('stg_clickstream__events') }}
),
{% endif %}

gaps as (
    select
        event_id,
        client_id,
        event_at,
        recompute_from,
        recompute_until,
        lag(event_at) over (partition by client_id order by event_at, event_id) as previous_event_at
    from events
),

session_starts as (
    select
        event_id,
        client_id,
        event_at,
        recompute_from,
        recompute_until,
        case when previous_event_at is null or event_at - previous_event_at > {{ timeout }} then 1 else 0 end
            as is_session_start
    from gaps
),

numbered as (
    select
        event_id,
        client_id,
        event_at,
        recompute_from,
        recompute_until,
        sum(is_session_start) over (
            partition by client_id order by event_at, event_id rows between unbounded preceding and current row
        ) as session_number
    from session_starts
),

sessionized as (
    select
        event_id,
        client_id,
        event_at,
        recompute_from,
        recompute_until,
        first_value(event_id) over session_events as session_first_event_id,
        first_value(event_at) over session_events as session_started_at,
        max(event_at) over (partition by client_id, session_number) as session_ended_at
    from numbered
    window session_events as (partition by client_id, session_number order by event_at, event_id)
),

final as (
    select
        event_id,
        client_id,
        event_at,
        md5(client_id || '/' || session_first_event_id::{{ type_text() }}) as session_key,
        session_started_at,
        session_ended_at,
        recompute_from as recomputed_from,
        recompute_until as recomputed_until
    from sessionized
)

select * from final
