{#- The categories (Prisma's "Category") each product is in ("ProductCategory"), with titles: product × category. -#}
with

categories as (
    select
        id,
        title,
        slug
    from {{ source('raw_shop', 'categories') }}
    where _deleted_at is null
),

memberships as (
    select
        product_id,
        category_id
    from {{ source('raw_shop', 'product_categories') }}
    where _deleted_at is null
),

final as (
    select
        memberships.product_id,
        categories.id as category_id,
        categories.title as category_title,
        categories.slug as category_slug,
        {{ text_key('categories.title') }} as category_key
    from memberships
    inner join categories on memberships.category_id = categories.id
)

select * from final
