{#- A client's first-seen instant decides its new-client hour and its retention cohort: when it moves, both periods
    are recomputed (logs_spans). -#}
{{
    incremental_by_client(
        client_scope='identity',
        logs_spans='first_seen_at',
        logs_changes_of=['first_seen_at'],
        reads_order_changes=true,
        indexes=[
            {'columns': ['first_seen_at']},
            {'columns': ['first_seen_week']},
            {'columns': ['dbt_processed_at']},
        ],
    )
}}


with

sessions as (
    select *
    from {{ ref('fct_sessions') }}
    where {{ in_changed_client_windows('client_id') }}
),

per_client as (
    select
        client_id,
        min(started_at) as first_seen_at,
        max(ended_at) as last_seen_at,
        count(*) as session_count,
        sum(event_count) as event_count,
        count(*) filter (where is_converted) as converted_session_count,
        sum(purchase_count) as purchase_count,
        sum(tracked_revenue) as tracked_revenue,
        sum(order_count) as order_count,
        sum(revenue) as lifetime_revenue
    from sessions
    group by client_id
),

first_sessions as (
    select {{ distinct_on('client_id') }}
        client_id,
        channel as first_channel,
        device_class as first_device_class,
        landing_page_path as first_landing_page_path
    from sessions
    {{ first_per_key('client_id', 'started_at asc, session_key asc') }}
),

final as (
    select
        per_client.client_id,
        identities.user_id,
        identities.user_id is not null as is_identified,
        per_client.first_seen_at,
        per_client.last_seen_at,
        {{ utc_period_date('week', 'per_client.first_seen_at') }} as first_seen_week,
        per_client.session_count::integer as session_count,
        per_client.event_count::integer as event_count,
        per_client.converted_session_count::integer as converted_session_count,
        per_client.purchase_count::integer as purchase_count,
        per_client.tracked_revenue,
        per_client.order_count::integer as order_count,
        per_client.lifetime_revenue,
        first_sessions.first_channel,
        first_sessions.first_device_class,
        first_sessions.first_landing_page_path
    from per_client
    inner join first_sessions on per_client.client_id = first_sessions.client_id
    left join {{ ref('int_clients_stitched') }} as identities on per_client.client_id = identities.client_id
)

select * from final
