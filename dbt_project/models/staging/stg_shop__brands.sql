{#- The shop's brands (Prisma's "Brand"). -#}
with

source as (
    select
        id,
        name,
        slug
    from {{ source('raw_shop', 'brands') }}
    where _deleted_at is null
),

final as (
    select
        id as brand_id,
        name as brand_name,
        slug as brand_slug
    from source
)

select * from final
