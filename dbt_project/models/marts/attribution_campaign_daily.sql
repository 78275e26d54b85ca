{#-
    attribution_channel_daily by campaign (the touch's utm_campaign; (not set) without one) within its channel, with
    the campaign's ad spend.
-#}
{{ attribution_by_day(['channel', 'campaign']) }}
