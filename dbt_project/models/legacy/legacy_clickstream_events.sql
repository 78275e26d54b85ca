{#-
    public.clickstream_events: the previous warehouse's table name, unqualified, for the old R Shiny dashboard,
    which runs one query on `clickstream_events` with the default search_path ("$user", public). A view over
    marts.clickstream_events (a view runs with its owner's rights: readers need no grant on staging).
-#}
{{ config(alias='clickstream_events') }}

with

events as (
    select * from {{ ref('clickstream_events') }}
),

final as (
    select
        event_id,
        event_timestamp,
        event_name,
        user_id,
        user_login_state,
        identity_source,
        client_id,
        session_id,
        is_first_visit,
        context_product_id,
        context_product_name,
        context_product_category,
        context_product_brand,
        context_product_price,
        context_product_discount_price,
        context_product_url_path
    from events
)

select * from final
