{#-
    A field of a JSON document (raw.events.payload, or an object taken from it) by its dotted path, e.g.
    json_text('payload', '_enriched.userAgent.isBot'): json_text gives the value as text (null when absent or
    JSON null), json_object keeps an object as JSON for further json_text calls. Postgres: jsonb operators;
    Spark: the payload is JSON text (get_json_object); Redshift: the payload is SUPER.
-#}
{% macro json_text(column, path) -%}{{ return(adapter.dispatch('json_text')(column, path)) }}{%- endmacro %}
{% macro json_object(column, path) -%}{{ return(adapter.dispatch('json_object')(column, path)) }}{%- endmacro %}

{% macro default__json_text(column, path) -%}
    {%- set keys = path.split('.') -%}
    {{ column }}{% for key in keys[:-1] %} -> '{{ key }}'{% endfor %} ->> '{{ keys[-1] }}'
{%- endmacro %}

{% macro default__json_object(column, path) -%}
    {{ column }}{% for key in path.split('.') %} -> '{{ key }}'{% endfor %}
{%- endmacro %}

{% macro spark__json_text(column, path) -%}
    get_json_object({{ column }}, '$.{{ path }}')
{%- endmacro %}

{% macro spark__json_object(column, path) -%}
    get_json_object({{ column }}, '$.{{ path }}')
{%- endmacro %}

{#- Redshift: SUPER navigation (needs enable_case_sensitive_super_attribute: the keys are camelCase). -#}
{% macro redshift__json_text(column, path) -%}
    {{ column }}{% for key in path.split('.') %}."{{ key }}"{% endfor %}::varchar
{%- endmacro %}

{% macro redshift__json_object(column, path) -%}
    {{ column }}{% for key in path.split('.') %}."{{ key }}"{% endfor %}
{%- endmacro %}

{#-
    The members of a JSON object, one row each (`alias.key`, `alias.value`), joined laterally to the rows of
    `source`: `from source {{ json_members('source.payload', 'members') }}`. A value that is not an object has no
    members. json_keys: the keys only (`alias.key`).
-#}
{% macro json_members(object, alias) -%}{{ return(adapter.dispatch('json_members')(object, alias)) }}{%- endmacro %}
{% macro default__json_members(object, alias) -%}cross join lateral jsonb_each({{ object }}) as {{ alias }}{%- endmacro %}
{% macro spark__json_members(object, alias) -%}
    lateral view explode(from_json({{ object }}, 'map<string, string>')) {{ alias }} as key, value
{%- endmacro %}

{% macro json_keys(object, alias) -%}{{ return(adapter.dispatch('json_keys')(object, alias)) }}{%- endmacro %}
{% macro default__json_keys(object, alias) -%}
    cross join lateral jsonb_object_keys({{ object }}) as {{ alias }} (key)
{%- endmacro %}
{% macro spark__json_keys(object, alias) -%}
    lateral view explode(map_keys(from_json({{ object }}, 'map<string, string>'))) {{ alias }} as key
{%- endmacro %}

{#- The JSON value is an object. -#}
{% macro json_is_object(value) -%}{{ return(adapter.dispatch('json_is_object')(value)) }}{%- endmacro %}
{% macro default__json_is_object(value) -%}jsonb_typeof({{ value }}) = 'object'{%- endmacro %}
{% macro spark__json_is_object(value) -%}startswith(ltrim({{ value }}), '{'){%- endmacro %}

{#- A JSON object of the group's key → value pairs (Spark: JSON text). -#}
{% macro json_object_agg(key, value) -%}{{ return(adapter.dispatch('json_object_agg')(key, value)) }}{%- endmacro %}
{% macro default__json_object_agg(key, value) -%}jsonb_object_agg({{ key }}, {{ value }}){%- endmacro %}
{% macro spark__json_object_agg(key, value) -%}
    to_json(map_from_entries(array_sort(collect_list(struct({{ key }}, {{ value }})))))
{%- endmacro %}

{#- An empty JSON object. -#}
{% macro json_empty_object() -%}{{ return(adapter.dispatch('json_empty_object')()) }}{%- endmacro %}
{% macro default__json_empty_object() -%}'{}'::jsonb{%- endmacro %}
{% macro spark__json_empty_object() -%}'{}'{%- endmacro %}
{% macro redshift__json_empty_object() -%}json_parse('{}'){%- endmacro %}
