{#-
    Traffic per UTC hour and `segments` (device_class, login_state: the event's): events, sessions active and
    started, clients active and new (bots and zombies excluded). traffic_hourly (with the logged-in share of the
    events) and traffic_hourly_by_segment are this macro without and with the dashboard's segments.
-#}
{% macro traffic_by_hour(segments=[]) -%}
{%- set columns = {'device_class': 'events.device_class', 'login_state': 'events.user_login_state'} %}
with

events as (
    select
        {{ utc_period_start('hour', 'events.event_at') }} as hour_at,
        {%- for segment in segments %}
        {{ columns[segment] }} as {{ segment }},
        {%- endfor %}
        events.user_login_state,
        events.session_key,
        events.client_id,
        events.event_at = events.session_started_at as is_session_start,
        events.event_at = clients.first_seen_at as is_first_seen
    from {{ ref('fct_events') }} as events
    inner join {{ ref('dim_clients') }} as clients on events.client_id = clients.client_id
    where {{ in_changed_periods('events.event_at') }}
),

final as (
    select
        hour_at,
        {{ utc_date('hour_at') }} as date_day,
        {%- for segment in segments %}
        {{ segment }},
        {%- endfor %}
        count(*)::integer as events,
        count(distinct session_key)::integer as active_sessions,
        count(distinct session_key) filter (where is_session_start)::integer as sessions_started,
        count(distinct client_id)::integer as active_clients,
        count(distinct client_id) filter (where is_first_seen)::integer as new_clients
        {%- if not segments %},
        round(count(*) filter (where user_login_state = 'logged_in')::{{ type_decimal() }} / count(*), 4) as logged_in_share
        {%- endif %}
    from events
    group by hour_at{% for segment in segments %}, {{ segment }}{% endfor %}
)

select * from final
{%- endmacro %}
