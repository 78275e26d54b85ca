{#-
    Sessions reaching each funnel step per UTC day of session start: session_start, then product_view,
    add_to_cart_click, checkout_start and checkout_complete (the seed funnel_steps), each in that order in time.
-#}
{{ incremental_by_period(
    'day', indexes=[{'columns': ['date_day', 'step_order'], 'unique': true}], reads_revenue=true
) }}

{{ funnel_by_day() }}
