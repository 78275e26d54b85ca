{#- Ad spend in VND per UTC day, channel and campaign, as imported (`clickstream ad-spend import`). -#}
with

source as (
    select
        date_day,
        channel,
        campaign,
        spend
    from {{ source('raw', 'ad_spend') }}
),

final as (
    select
        date_day,
        lower(channel) as channel,
        campaign,
        spend
    from source
)

select * from final
