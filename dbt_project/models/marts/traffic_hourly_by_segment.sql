{#- Traffic per UTC hour, device class and login state of the event (the dashboard's filters). -#}
{{ incremental_by_period('hour') }}

{{ traffic_by_hour(['device_class', 'login_state']) }}
