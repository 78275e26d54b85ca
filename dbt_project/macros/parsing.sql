{#- Pieces of URLs, for staging. -#}

{% macro url_host(url) -%}
    lower(substring({{ url }} from '^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/?#]*@)?([^/?#:]+)'))
{%- endmacro %}

{#- Path of an absolute URL ('/' when it has none); null when the URL is missing or not absolute. -#}
{% macro url_path(url) -%}
    case
        when {{ url }} ~ '^[a-zA-Z][a-zA-Z0-9+.-]*://'
            then coalesce(nullif(substring({{ url }} from '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*([^?#]*)'), ''), '/')
    end
{%- endmacro %}

{% macro url_parameter(url, name) -%}
    nullif(replace(substring({{ url }} from '[?&]{{ name }}=([^&#]*)'), '+', ' '), '')
{%- endmacro %}

{#- Marketing channel of a session, from its landing event (analysts: edit the lists here). -#}
{% macro traffic_channel(referrer_host, page_host, utm_source, utm_medium) -%}
    {%- set social = "'(^|\\.)(facebook|fb|instagram|tiktok|zalo|youtube|twitter|x|linkedin|threads)\\.'" -%}
    {%- set search = "'(^|\\.)(google|bing|coccoc|yahoo|duckduckgo|yandex|baidu)\\.'" -%}
    case
        when lower({{ utm_medium }}) in ('email', 'e-mail', 'newsletter') then 'email'
        when lower({{ utm_medium }}) in ('paid_social', 'paidsocial')
            or (lower({{ utm_medium }}) in ('cpc', 'ppc', 'paid') and lower({{ utm_source }}) ~ '(facebook|fb|instagram|tiktok|zalo|youtube)')
            then 'paid_social'
        when lower({{ utm_medium }}) in ('cpc', 'ppc', 'paid', 'paid_search', 'paidsearch') then 'paid_search'
        when lower({{ utm_medium }}) in ('social', 'social_network', 'sm') then 'social'
        when {{ referrer_host }} ~ {{ social }} then 'social'
        when {{ referrer_host }} ~ {{ search }} then 'organic_search'
        when {{ referrer_host }} is null or {{ referrer_host }} = {{ page_host }} then 'direct'
        else 'referral'
    end
{%- endmacro %}
