{#- Which UTC weeks (Monday) each client had a kept (not quarantined) session in: retention's input. -#}
{{
    config(
        incremental_strategy='append',
        pre_hook=["{{ delete_client_weeks() }}"],
        post_hook=["{{ save_watermark() }}"],
        indexes=[
            {'columns': ['activity_week']},
            {'columns': ['client_id', 'activity_week'], 'unique': true},
            {'columns': ['dbt_processed_at']},
        ],
    )
}}

-- depends_on: {{ ref('int_events_sessionized') }}

with

{% if is_incremental() %}
scope as (
    {{ changed_windows() }}
),
{% endif %}

sessions as (
    select
        sessions.client_id,
        date_trunc('week', sessions.started_at at time zone 'UTC')::date as activity_week
    from {{ ref('int_sessions_aggregated') }} as sessions
    {% if is_incremental() %}
    inner join scope
        on
            sessions.client_id = scope.client_id
            and sessions.started_at
            >= date_trunc('week', scope.recomputed_from at time zone 'UTC') at time zone 'UTC'
            and sessions.started_at
            < (date_trunc('week', scope.recomputed_until at time zone 'UTC') + interval '1 week') at time zone 'UTC'
    {% endif %}
    where not sessions.is_quarantined
),

final as (
    select distinct
        client_id,
        activity_week,
        {{ run_started() }} as dbt_processed_at
    from sessions
)

select * from final
