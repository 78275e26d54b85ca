{{ config(severity='warn') }}
-- Sessions take their channel when they are built; after the channel seeds change, the sessions built before keep
-- the older rules until `clickstream transform --full-refresh`. Rows: sessions whose channel differs from what the
-- seeds say now.
select
    sessions.session_key,
    sessions.channel as built_with,
    sources.channel as rules_now
from {{ ref('fct_sessions') }} as sessions
inner join {{ ref('int_sessions_aggregated') }} as aggregated on sessions.session_key = aggregated.session_key
inner join {{ ref('int_traffic_sources') }} as sources on aggregated.traffic_source_key = sources.traffic_source_key
where sessions.channel is distinct from sources.channel
