{{
    incremental_by_key(
        'event_id',
        reads_raw=true,
        indexes=[
            {'columns': ['event_id'], 'unique': true},
            {'columns': ['client_id', 'event_at']},
            {'columns': ['event_at']},
            {'columns': ['dbt_processed_at']},
        ],
    )
}}

with

source as (
    select
        event_id,
        event_at,
        received_at,
        payload,
        source_key,
        load_id,
        loaded_at,
        load_txid
    from {{ source('raw', 'events') }}
    where {{ new_raw_rows('load_txid') }}
),

fields as (
    select
        event_id,
        event_at,
        received_at,
        payload ->> 'eventName' as event_name,
        payload ->> 'clientId' as client_id,
        payload ->> 'sessionId' as tracker_session_id,
        nullif(payload ->> 'userId', '') as user_id,
        lower(payload ->> 'userLoginState') as sent_login_state,
        (payload ->> 'isFirstVisit')::boolean as is_first_visit,
        payload ->> 'pageUrl' as page_url,
        payload ->> 'pageTitle' as page_title,
        payload ->> 'pagePath' as sent_page_path,
        nullif(payload ->> 'referrer', '') as referrer,
        payload -> 'product' as product,
        payload -> 'element' -> 'dataset' as dataset,
        payload ->> 'identitySource' as sent_identity_source,
        payload -> 'element' ->> 'tag' as element_tag,
        payload -> 'element' ->> 'id' as element_id,
        payload -> 'element' ->> 'role' as element_role,
        left(payload -> 'element' ->> 'text', 256) as element_text,
        payload -> '_ingest' ->> 'userAgent' as user_agent,
        payload -> '_enriched' -> 'userAgent' ->> 'browser' as browser,
        payload -> '_enriched' -> 'userAgent' ->> 'os' as operating_system,
        coalesce(payload -> '_enriched' -> 'userAgent' ->> 'deviceClass', 'unknown') as device_class,
        coalesce((payload -> '_enriched' -> 'userAgent' ->> 'isBot')::boolean, false) as is_bot,
        payload -> '_ingest' ->> 'sourceIp' as source_ip,
        payload -> '_ingest' ->> 'requestId' as request_id,
        payload -> '_ingest' ->> 'apiId' as api_id,
        coalesce((payload -> '_contract' ->> 'eventIdDerived')::boolean, false) as is_event_id_derived,
        source_key,
        load_id,
        loaded_at
    from source
),

-- category_view sends the category as its product: {"id": <category id or slug>, "category": <title>}
products as (
    select
        *,
        case when event_name <> 'category_view' then product end as viewed_product,
        case when event_name = 'category_view' then product end as viewed_category
    from fields
),

final as (
    select
        event_id,
        event_at,
        received_at,
        event_name,
        client_id,
        tracker_session_id,
        user_id,
        coalesce(sent_login_state, case when user_id is not null then 'logged_in' else 'anonymous' end)
            as user_login_state,
        coalesce(sent_identity_source, case when user_id is not null then 'user_id' else 'client_id' end)
            as identity_source,
        is_first_visit,
        page_url,
        {{ url_host('page_url') }} as page_host,
        coalesce(sent_page_path, {{ url_path('page_url') }}) as page_path,
        page_title,
        referrer,
        {{ url_host('referrer') }} as referrer_host,
        {{ url_parameter('page_url', 'utm_source') }} as utm_source,
        {{ url_parameter('page_url', 'utm_medium') }} as utm_medium,
        {{ url_parameter('page_url', 'utm_campaign') }} as utm_campaign,
        {{ url_parameter('page_url', 'utm_term') }} as utm_term,
        {{ url_parameter('page_url', 'utm_content') }} as utm_content,
        viewed_product ->> 'id' as product_id,
        viewed_product ->> 'name' as product_name,
        viewed_product ->> 'category' as product_category,
        {{ text_key("viewed_product ->> 'category'") }} as product_category_key,
        coalesce(viewed_product ->> 'brand', viewed_product ->> 'brandName') as product_brand,
        (viewed_product ->> 'price')::numeric as product_price,
        (viewed_product ->> 'discountPrice')::numeric as product_discount_price,
        viewed_product ->> 'urlPath' as product_url_path,
        viewed_category ->> 'id' as category_id,
        coalesce(viewed_category ->> 'category', viewed_category ->> 'id') as category_name,
        {{ text_key("coalesce(viewed_category ->> 'category', viewed_category ->> 'id')") }} as category_key,
        case when event_name = 'checkout_start' then {{ text_or_null("dataset ->> 'cartId'") }} end as cart_id,
        case when event_name = 'checkout_start' then {{ vnd_amount("dataset ->> 'total'") }} end as cart_total,
        case when event_name = 'checkout_start' then {{ whole_number("dataset ->> 'itemCount'") }} end
            as cart_item_count,
        case when event_name = 'checkout_complete' then {{ text_or_null("dataset ->> 'orderId'") }} end as order_id,
        case when event_name = 'checkout_complete' then {{ text_or_null("dataset ->> 'orderNumber'") }} end
            as order_number,
        case when event_name = 'checkout_complete' then {{ vnd_amount("dataset ->> 'total'") }} end as order_total,
        case when event_name = 'wishlist_toggle' then {{ text_boolean("dataset ->> 'toggledOn'") }} end as wishlist_on,
        case when event_name = 'share_click' then {{ text_or_null("dataset ->> 'channel'") }} end as share_channel,
        element_tag,
        element_id,
        element_role,
        element_text,
        user_agent,
        browser,
        operating_system,
        device_class,
        is_bot,
        source_ip,
        request_id,
        api_id,
        is_event_id_derived,
        source_key,
        load_id,
        loaded_at
    from products
)

select * from final
