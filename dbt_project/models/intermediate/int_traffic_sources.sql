{#-
    Where sessions came from: each distinct landing (referrer host, landing host, UTM parameters, ad click id)
    classified by the shop's rules, which are data (seeds): UTM first, then an ad click id (click_ids), then the
    referrer — a payment gateway or the shop's own domain (ignored_referrers) is no referrer: the visitor returns
    from paying, which continues the visit rather than being one — else direct. The source is named and
    categorised by source_categories (search, social, shopping, video, email), and the channel is the first rule of
    channel_rules (by priority) whose conditions the source, medium, category and campaign all meet, else
    unassigned.

    A plain table of the distinct landings, rebuilt by every run. Sessions take their channel when they are
    (re)built: after editing the seeds, `clickstream transform --full-refresh` reclassifies the history (the warning
    test sessions_follow_the_channel_rules says when sessions still carry older rules).
-#}

with

landings as (
    select {{ distinct_on('traffic_source_key') }}
        traffic_source_key,
        referrer_host,
        landing_page_host,
        lower(utm_source) as utm_source,
        lower(utm_medium) as utm_medium,
        utm_campaign,
        click_id_parameter
    from {{ ref('int_sessions_aggregated') }}
    {{ first_per_key('traffic_source_key') }}
),

click_ids as (
    select
        parameter,
        lower(source) as source,
        lower(medium) as medium
    from {{ ref('click_ids') }}
),

-- the referrer, unless it is none, the landing's own host, a payment gateway or one of the shop's domains
ignored_landings as (
    select distinct landings.traffic_source_key
    from landings
    inner join {{ ref('ignored_referrers') }} as ignored
        on {{ regex_matches('landings.referrer_host', 'ignored.host_pattern', ignore_case=true) }}
),

referrers as (
    select
        landings.*,
        landings.referrer_host is not null
        and (
            landings.referrer_host = landings.landing_page_host
            or ignored_landings.traffic_source_key is not null
        ) as is_referral_continuation
    from landings
    left join ignored_landings on landings.traffic_source_key = ignored_landings.traffic_source_key
),

-- the referrer's source, by the most specific host pattern that matches it (mail.google.com before google.)
referrer_sources as (
    select
        referrers.traffic_source_key,
        categories.source,
        row_number() over (
            partition by referrers.traffic_source_key
            order by length(categories.host_pattern) desc, categories.source asc
        ) as match_rank
    from referrers
    inner join {{ ref('source_categories') }} as categories
        on {{ regex_matches('referrers.referrer_host', 'categories.host_pattern', ignore_case=true) }}
),

named as (
    select
        referrers.*,
        referrer_sources.source as referrer_source
    from referrers
    left join referrer_sources
        on referrers.traffic_source_key = referrer_sources.traffic_source_key and referrer_sources.match_rank = 1
),

sourced as (
    select
        named.*,
        click_ids.source as click_id_source,
        click_ids.medium as click_id_medium,
        case
            when named.utm_source is not null or named.utm_medium is not null or named.utm_campaign is not null
                then 'utm'
            when click_ids.parameter is not null then 'click_id'
            when named.referrer_host is not null and not named.is_referral_continuation then 'referrer'
            else 'direct'
        end as source_type
    from named
    left join click_ids on named.click_id_parameter = click_ids.parameter
),

sources as (
    select
        sourced.*,
        case sourced.source_type
            when 'utm' then coalesce(sourced.utm_source, '(not set)')
            when 'click_id' then sourced.click_id_source
            when
                'referrer'
                then coalesce(
                        sourced.referrer_source, {{ regex_replace_all('sourced.referrer_host', "'^www\\.'", "''") }}
                    )
            else '(direct)'
        end as source
    from sourced
),

-- the source's category: the source's own row first, else the most specific host pattern matching it
source_categories as (
    select
        sources.traffic_source_key,
        categories.category,
        row_number() over (
            partition by sources.traffic_source_key
            order by
                case when sources.source = categories.source then 0 else 1 end asc,
                length(categories.host_pattern) desc,
                categories.category asc
        ) as match_rank
    from sources
    inner join {{ ref('source_categories') }} as categories
        on
            sources.source = categories.source
            or {{ regex_matches('sources.source', 'categories.host_pattern', ignore_case=true) }}
),

categorised as (
    select
        sources.*,
        source_categories.category as source_category
    from sources
    left join source_categories
        on sources.traffic_source_key = source_categories.traffic_source_key and source_categories.match_rank = 1
),

mediums as (
    select
        categorised.*,
        case
            when categorised.source_type = 'utm' then coalesce(categorised.utm_medium, '(not set)')
            when categorised.source_type = 'click_id' and categorised.click_id_medium is not null
                then categorised.click_id_medium
            when categorised.source_type in ('click_id', 'referrer') and categorised.source_category = 'search'
                then 'organic'
            when categorised.source_type in ('click_id', 'referrer') then 'referral'
            else '(none)'
        end as medium
    from categorised
),

-- the first rule, by priority, whose conditions the landing meets
channels as (
    select
        mediums.traffic_source_key,
        rules.channel,
        row_number() over (partition by mediums.traffic_source_key order by rules.priority asc) as match_rank
    from mediums
    inner join {{ ref('channel_rules') }} as rules
        on
            (rules.source_category is null or mediums.source_category = rules.source_category)
            and (
                rules.source_pattern is null
                or {{ regex_matches('mediums.source', 'rules.source_pattern', ignore_case=true) }}
            )
            and (
                rules.medium_pattern is null
                or {{ regex_matches('mediums.medium', 'rules.medium_pattern', ignore_case=true) }}
            )
            and (
                rules.campaign_pattern is null
                or {{ regex_matches("coalesce(mediums.utm_campaign, '')", 'rules.campaign_pattern', ignore_case=true) }}
            )
),

final as (
    select
        mediums.traffic_source_key,
        mediums.referrer_host,
        mediums.landing_page_host,
        mediums.utm_source,
        mediums.utm_medium,
        mediums.utm_campaign,
        mediums.click_id_parameter,
        mediums.is_referral_continuation,
        mediums.source_type,
        mediums.source,
        mediums.medium,
        mediums.utm_campaign as campaign,
        mediums.source_category,
        coalesce(channels.channel, 'unassigned') as channel
    from mediums
    left join channels on mediums.traffic_source_key = channels.traffic_source_key and channels.match_rank = 1
)

select * from final
