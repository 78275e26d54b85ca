{#-
    Conversions and revenue attributed to each channel per UTC day of the order, by every attribution model
    (attribution_paths), with the ad spend of the day and channel (raw.ad_spend, `clickstream ad-spend import`) and
    the return on it. Per model and day the attributed conversions add up to the day's orders with a touch, and the
    attributed revenue to their revenue.
-#}
{{ attribution_by_day(['channel']) }}
