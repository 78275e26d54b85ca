{#- Pieces of URLs, for staging. -#}

{% macro url_host(url) -%}
    lower({{ regex_group(url, "'^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/?#]*@)?([^/?#:]+)'") }})
{%- endmacro %}

{#- Path of an absolute URL ('/' when it has none); null when the URL is missing or not absolute. -#}
{% macro url_path(url) -%}
    case
        when {{ regex_matches(url, "'^[a-zA-Z][a-zA-Z0-9+.-]*://'") }}
            then coalesce(nullif({{ regex_group(url, "'^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*([^?#]*)'") }}, ''), '/')
    end
{%- endmacro %}

{% macro url_parameter(url, name) -%}
    nullif(replace({{ regex_group(url, "'[?&]" ~ name ~ "=([^&#]*)'") }}, '+', ' '), '')
{%- endmacro %}

{#- The key of a session's landing traffic source: what int_traffic_sources classifies (from the columns of `alias`). -#}
{% macro traffic_source_key(alias) -%}
    md5(concat_ws(
        chr(31),
        {%- for column in ['referrer_host', 'page_host', 'utm_source', 'utm_medium', 'utm_campaign', 'click_id_parameter'] %}
        coalesce({{ alias }}.{{ column }}, ''){{ ',' if not loop.last }}
        {%- endfor %}
    ))
{%- endmacro %}
