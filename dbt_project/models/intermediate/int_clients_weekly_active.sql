{#- Which UTC weeks (Monday) each client had a kept (not quarantined) session in: retention's input. -#}
{{
    incremental_by_client(
        indexes=[
            {'columns': ['activity_week']},
            {'columns': ['client_id', 'activity_week'], 'unique': true},
            {'columns': ['dbt_processed_at']},
        ],
    )
}}

with

sessions as (
    select
        client_id,
        {{ utc_period_date('week', 'started_at') }} as activity_week
    from {{ ref('int_sessions_aggregated') }}
    where not is_quarantined and {{ in_changed_client_windows('client_id') }}
),

final as (
    select distinct
        client_id,
        activity_week
    from sessions
)

select * from final
