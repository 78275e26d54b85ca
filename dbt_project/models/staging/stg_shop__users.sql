{#- The shop's accounts (Prisma's "User"; id = the Cognito sub = the tracker's userId); no e-mail or name. -#}
with

source as (
    select
        id,
        created_at,
        updated_at
    from {{ source('raw_shop', 'users') }}
    where _deleted_at is null
),

final as (
    select
        id as user_id,
        {{ utc_instant('created_at') }} as signed_up_at,
        {{ utc_instant('updated_at') }} as updated_at
    from source
)

select * from final
