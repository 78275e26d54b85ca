{#- Product interactions per UTC day and product (bots and zombies excluded). -#}
{{ incremental_by_period('day', indexes=[{'columns': ['date_day', 'product_id'], 'unique': true}]) }}

{{ product_engagement_by_day() }}
