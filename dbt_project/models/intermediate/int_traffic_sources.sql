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
    select distinct on (traffic_source_key)
        traffic_source_key,
        referrer_host,
        landing_page_host,
        lower(utm_source) as utm_source,
        lower(utm_medium) as utm_medium,
        utm_campaign,
        click_id_parameter
    from {{ ref('int_sessions_aggregated') }}
    order by traffic_source_key
),

click_ids as (
    select
        parameter,
        lower(source) as source,
        lower(medium) as medium
    from {{ ref('click_ids') }}
),

-- the referrer, unless it is none, the landing's own host, a payment gateway or one of the shop's domains
referrers as (
    select
        landings.*,
        landings.referrer_host is not null
        and (
            landings.referrer_host = landings.landing_page_host
            or exists (
                select 1 from {{ ref('ignored_referrers') }} as ignored
                where landings.referrer_host ~* ignored.host_pattern
            )
        ) as is_referral_continuation
    from landings
),

-- the referrer's source, by the most specific host pattern that matches it (mail.google.com before google.)
named as (
    select
        referrers.*,
        (
            select categories.source from {{ ref('source_categories') }} as categories
            where referrers.referrer_host ~* categories.host_pattern
            order by length(categories.host_pattern) desc, categories.source asc
            limit 1
        ) as referrer_source
    from referrers
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
            when 'referrer' then coalesce(sourced.referrer_source, regexp_replace(sourced.referrer_host, '^www\.', ''))
            else '(direct)'
        end as source
    from sourced
),

categorised as (
    select
        sources.*,
        (
            select categories.category from {{ ref('source_categories') }} as categories
            where sources.source = categories.source or sources.source ~* categories.host_pattern
            order by (sources.source = categories.source) desc, length(categories.host_pattern) desc
            limit 1
        ) as source_category
    from sources
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
        coalesce(
            (
                select rules.channel from {{ ref('channel_rules') }} as rules
                where
                    (rules.source_category is null or rules.source_category = mediums.source_category)
                    and (rules.source_pattern is null or mediums.source ~* rules.source_pattern)
                    and (rules.medium_pattern is null or mediums.medium ~* rules.medium_pattern)
                    and (rules.campaign_pattern is null or coalesce(mediums.utm_campaign, '') ~* rules.campaign_pattern)
                order by rules.priority asc
                limit 1
            ),
            'unassigned'
        ) as channel
    from mediums
)

select * from final
