{#- Traffic per UTC hour (bots and zombies excluded). -#}
{{
    config(
        incremental_strategy='append',
        pre_hook=["{{ delete_periods('hour_at', 'select period_start at time zone \\'UTC\\' from (' ~ changed_periods('hour') ~ ') as hours') }}"],
        post_hook=["{{ save_watermark() }}"],
        indexes=[{'columns': ['hour_at'], 'unique': true}],
    )
}}

-- depends_on: {{ ref('int_events_sessionized') }}, {{ ref('fct_sessions') }}

with

events as (
    select
        date_trunc('hour', events.event_at at time zone 'UTC') at time zone 'UTC' as hour_at,
        events.user_login_state,
        events.session_key,
        events.client_id,
        events.event_at = events.session_started_at as is_session_start,
        events.event_at = clients.first_seen_at as is_first_seen
    from {{ ref('fct_events') }} as events
    inner join {{ ref('dim_clients') }} as clients on events.client_id = clients.client_id
    {% if is_incremental() %}
    where {{ in_changed_periods('events.event_at', 'hour') }}
    {% endif %}
),

final as (
    select
        hour_at,
        (hour_at at time zone 'UTC')::date as date_day,
        count(*)::integer as events,
        count(distinct session_key)::integer as active_sessions,
        count(distinct session_key) filter (where is_session_start)::integer as sessions_started,
        count(distinct client_id)::integer as active_clients,
        count(distinct client_id) filter (where is_first_seen)::integer as new_clients,
        round(count(*) filter (where user_login_state = 'logged_in')::numeric / count(*), 4) as logged_in_share,
        {{ run_started() }} as dbt_processed_at
    from events
    group by hour_at
)

select * from final
