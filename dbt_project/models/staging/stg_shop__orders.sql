{#- The shop's orders (Prisma's "Order"), deleted ones left out; instants as UTC timestamptz, statuses lower-cased. -#}
with

source as (
    select
        id,
        user_id,
        order_number,
        status,
        payment_status,
        total_price,
        created_at,
        updated_at,
        _synced_at
    from {{ source('raw_shop', 'orders') }}
    where _deleted_at is null
),

final as (
    select
        id as order_id,
        {{ text_or_null('user_id') }} as user_id,
        {{ text_or_null('order_number') }} as order_number,
        lower(trim(status)) as status,
        lower(trim(payment_status)) as payment_status,
        total_price,
        {{ utc_instant('created_at') }} as ordered_at,
        {{ utc_instant('updated_at') }} as updated_at,
        _synced_at as synced_at
    from source
)

select * from final
