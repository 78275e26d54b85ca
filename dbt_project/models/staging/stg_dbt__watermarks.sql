{#- When each incremental model last consumed its inputs (the project's own bookkeeping). -#}
with

source as (
    select * from {{ source('dbt_state', 'dbt_watermarks') }}
),

final as (
    select
        model_name,
        processed_through,
        updated_at
    from source
)

select * from final
