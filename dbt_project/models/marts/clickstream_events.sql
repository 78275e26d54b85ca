{#- Exactly the columns of the previous warehouse table, so the existing R Shiny dashboard keeps working. -#}
{{ config(materialized='view') }}

with

events as (
    select * from {{ ref('stg_clickstream__events') }}
),

final as (
    select
        event_id,
        event_at as event_timestamp,
        event_name,
        user_id,
        user_login_state,
        identity_source,
        client_id,
        tracker_session_id as session_id,
        is_first_visit,
        product_id as context_product_id,
        product_name as context_product_name,
        product_category as context_product_category,
        product_brand as context_product_brand,
        product_price as context_product_price,
        product_discount_price as context_product_discount_price,
        product_url_path as context_product_url_path
    from events
)

select * from final
