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
        {{ json_text('payload', 'eventName') }} as event_name,
        {{ json_text('payload', 'clientId') }} as client_id,
        {{ json_text('payload', 'sessionId') }} as tracker_session_id,
        nullif({{ json_text('payload', 'userId') }}, '') as user_id,
        lower({{ json_text('payload', 'userLoginState') }}) as sent_login_state,
        ({{ json_text('payload', 'isFirstVisit') }})::boolean as is_first_visit,
        {{ json_text('payload', 'pageUrl') }} as page_url,
        {{ json_text('payload', 'pageTitle') }} as page_title,
        {{ json_text('payload', 'pagePath') }} as sent_page_path,
        nullif({{ json_text('payload', 'referrer') }}, '') as referrer,
        {{ json_object('payload', 'product') }} as product,
        {{ json_object('payload', 'element.dataset') }} as dataset,
        {{ json_text('payload', 'identitySource') }} as sent_identity_source,
        {{ json_text('payload', 'element.tag') }} as element_tag,
        {{ json_text('payload', 'element.id') }} as element_id,
        {{ json_text('payload', 'element.role') }} as element_role,
        left({{ json_text('payload', 'element.text') }}, 256) as element_text,
        {{ json_text('payload', '_ingest.userAgent') }} as user_agent,
        {{ json_text('payload', '_enriched.userAgent.browser') }} as browser,
        {{ json_text('payload', '_enriched.userAgent.os') }} as operating_system,
        coalesce({{ json_text('payload', '_enriched.userAgent.deviceClass') }}, 'unknown') as device_class,
        coalesce(({{ json_text('payload', '_enriched.userAgent.isBot') }})::boolean, false) as is_bot,
        {{ json_text('payload', '_ingest.sourceIp') }} as source_ip,
        {{ json_text('payload', '_ingest.requestId') }} as request_id,
        {{ json_text('payload', '_ingest.apiId') }} as api_id,
        coalesce(({{ json_text('payload', '_contract.eventIdDerived') }})::boolean, false) as is_event_id_derived,
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
        {{ json_text('viewed_product', 'id') }} as product_id,
        {{ json_text('viewed_product', 'name') }} as product_name,
        {{ json_text('viewed_product', 'category') }} as product_category,
        {{ text_key(json_text('viewed_product', 'category')) }} as product_category_key,
        coalesce({{ json_text('viewed_product', 'brand') }}, {{ json_text('viewed_product', 'brandName') }})
            as product_brand,
        cast({{ json_text('viewed_product', 'price') }} as {{ type_decimal() }}) as product_price,
        cast({{ json_text('viewed_product', 'discountPrice') }} as {{ type_decimal() }}) as product_discount_price,
        {{ json_text('viewed_product', 'urlPath') }} as product_url_path,
        {{ json_text('viewed_category', 'id') }} as category_id,
        coalesce({{ json_text('viewed_category', 'category') }}, {{ json_text('viewed_category', 'id') }})
            as category_name,
        {{ text_key(
            'coalesce(' ~ json_text('viewed_category', 'category') ~ ', ' ~ json_text('viewed_category', 'id') ~ ')'
        ) }} as category_key,
        case when event_name = 'checkout_start' then {{ text_or_null(json_text('dataset', 'cartId')) }} end as cart_id,
        case when event_name = 'checkout_start' then {{ vnd_amount(json_text('dataset', 'total')) }} end as cart_total,
        case when event_name = 'checkout_start' then {{ whole_number(json_text('dataset', 'itemCount')) }} end
            as cart_item_count,
        case when event_name = 'checkout_complete' then {{ text_or_null(json_text('dataset', 'orderId')) }} end
            as order_id,
        case when event_name = 'checkout_complete' then {{ text_or_null(json_text('dataset', 'orderNumber')) }} end
            as order_number,
        case when event_name = 'checkout_complete' then {{ vnd_amount(json_text('dataset', 'total')) }} end
            as order_total,
        case
            when event_name = 'wishlist_toggle' then {{ text_boolean(json_text('dataset', 'toggledOn')) }}
        end as wishlist_on,
        case when event_name = 'share_click' then {{ text_or_null(json_text('dataset', 'channel')) }} end
            as share_channel,
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
