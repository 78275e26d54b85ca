{#- The shop's products (Prisma's "Product"): the catalog as the back office keeps it (prices in VND). -#}
with

source as (
    select
        id,
        name,
        slug,
        price,
        discount,
        stock,
        status,
        variant,
        is_featured,
        brand_id,
        created_at,
        updated_at
    from {{ source('raw_shop', 'products') }}
    where _deleted_at is null
),

final as (
    select
        id as product_id,
        name as product_name,
        slug as product_slug,
        variant as product_category,
        {{ text_key('variant') }} as product_category_key,
        brand_id,
        price as list_price,
        discount,
        stock,
        lower(trim(status)) as product_status,
        coalesce(is_featured, false) as is_featured,
        {{ utc_instant('created_at') }} as created_at,
        {{ utc_instant('updated_at') }} as updated_at
    from source
)

select * from final
