{{
    incremental_by_client(
        time_column='event_at',
        client_scope='identity',
        indexes=[
            {'columns': ['client_id', 'event_at']},
            {'columns': ['event_at', 'event_id']},
            {'columns': ['event_name', 'event_at', 'event_id']},
            {'columns': ['user_login_state', 'device_class', 'event_at', 'event_id']},
            {'columns': ['dbt_processed_at']},
        ],
    )
}}


with

{% if is_incremental() %}
scope as (
    {{ client_scope() }}
),
{% endif %}

sessionized as (
    {% if is_incremental() %}
    -- driven by the scope (small) through the (client_id, event_at) index; a client in two windows once
    select {{ once_per('sessionized.event_id') }} sessionized.*
    from scope
    inner join {{ ref('int_events_sessionized') }} as sessionized
        on
            scope.client_id = sessionized.client_id
            and sessionized.event_at between scope.recomputed_from and scope.recomputed_until
    {% else %}
    select * from {{ ref('int_events_sessionized') }}
    {% endif %}
),

kept_sessions as (
    select
        session_key,
        login_state as session_login_state
    from {{ ref('int_sessions_aggregated') }}
    where not is_quarantined
),

final as (
    select
        staged.event_id,
        sessionized.session_key,
        sessionized.session_started_at,
        staged.client_id,
        coalesce(staged.user_id, identities.user_id) as user_id,
        staged.user_id as event_user_id,
        staged.event_at,
        staged.received_at,
        staged.event_name,
        staged.user_login_state,
        kept_sessions.session_login_state,
        staged.identity_source,
        staged.tracker_session_id,
        staged.is_first_visit,
        staged.page_url,
        staged.page_path,
        staged.referrer_host,
        staged.utm_source,
        staged.utm_medium,
        staged.utm_campaign,
        staged.product_id,
        staged.product_name,
        staged.product_category,
        staged.product_brand,
        staged.product_price,
        staged.product_discount_price,
        staged.product_url_path,
        staged.product_category_key,
        staged.category_id,
        staged.category_name,
        staged.category_key,
        staged.cart_id,
        staged.cart_total,
        staged.cart_item_count,
        staged.order_id,
        staged.order_number,
        staged.order_total,
        staged.wishlist_on,
        staged.share_channel,
        staged.element_tag,
        staged.element_id,
        staged.element_text,
        staged.device_class,
        staged.browser,
        staged.operating_system
    from sessionized
    inner join kept_sessions on sessionized.session_key = kept_sessions.session_key
    inner join {{ ref('stg_clickstream__events') }} as staged on sessionized.event_id = staged.event_id
    left join {{ ref('int_clients_stitched') }} as identities on sessionized.client_id = identities.client_id
)

select * from final
