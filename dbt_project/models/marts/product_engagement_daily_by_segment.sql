{#- Product interactions per UTC day, product, device class and login state of the event (the dashboard's filters). -#}
{{ incremental_by_period('day') }}

{{ product_engagement_by_day(['device_class', 'login_state']) }}
