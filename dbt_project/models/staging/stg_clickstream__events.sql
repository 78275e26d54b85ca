{{
    config(
        unique_key='event_id',
        incremental_strategy='delete+insert',
        pre_hook=["{{ open_txid_window() }}"],
        post_hook=["{{ close_txid_window() }}"],
        indexes=[
            {'columns': ['event_id'], 'unique': true},
            {'columns': ['client_id', 'event_at']},
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
    {% if is_incremental() %}
    where {{ txid_window('load_txid') }}
    {% endif %}
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
        payload -> 'product' ->> 'id' as product_id,
        payload -> 'product' ->> 'name' as product_name,
        lower(payload -> 'product' ->> 'category') as product_category,
        coalesce(payload -> 'product' ->> 'brand', payload -> 'product' ->> 'brandName') as product_brand,
        (payload -> 'product' ->> 'price')::numeric as product_price,
        (payload -> 'product' ->> 'discountPrice')::numeric as product_discount_price,
        payload -> 'product' ->> 'urlPath' as product_url_path,
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
        case when user_id is not null then 'user_id' else 'client_id' end as identity_source,
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
        product_id,
        product_name,
        product_category,
        product_brand,
        product_price,
        product_discount_price,
        product_url_path,
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
        loaded_at,
        {{ run_started() }} as dbt_processed_at
    from fields
)

select * from final
