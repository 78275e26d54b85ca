{#-
    The tracked purchases: kept sessions' checkout_complete events (fct_events), with the order id, number and total
    the success page sent. A few percent of the events, read whole by the order matching and the reconciliation
    (reading them out of fct_events costs a heap fetch per event).
-#}
{{
    incremental_by_client(
        time_column='event_at',
        client_scope='identity',
        indexes=[
            {'columns': ['event_id'], 'unique': true},
            {'columns': ['client_id', 'event_at']},
        ],
    )
}}

select
    event_id,
    event_at,
    client_id,
    session_key,
    user_id,
    order_id,
    order_number,
    order_total
from {{ ref('fct_events') }}
where
    event_name = 'checkout_complete'
    and {{ in_changed_client_windows('client_id', 'event_at') }}
