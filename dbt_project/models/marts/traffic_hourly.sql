{#- Traffic per UTC hour (bots and zombies excluded). -#}
{{ incremental_by_period('hour', indexes=[{'columns': ['hour_at'], 'unique': true}]) }}

{{ traffic_by_hour() }}
