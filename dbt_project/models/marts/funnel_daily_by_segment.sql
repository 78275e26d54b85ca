{#- funnel_daily per UTC day of session start, device class and login state (the dashboard's filters). -#}
{{ incremental_by_period('day', reads_revenue=true) }}

{{ funnel_by_day(['device_class', 'login_state']) }}
