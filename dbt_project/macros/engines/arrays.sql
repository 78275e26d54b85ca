{#- Text arrays (Postgres text[]; Spark array<string>). -#}

{#- The group's values, sorted, among the rows where `where` holds (null or empty when none: coalesce it). -#}
{% macro sorted_array_agg(value, where=none) -%}{{ return(adapter.dispatch('sorted_array_agg')(value, where)) }}{%- endmacro %}
{% macro default__sorted_array_agg(value, where) -%}
    array_agg({{ value }} order by {{ value }}){{ ' filter (where ' ~ where ~ ')' if where }}
{%- endmacro %}
{% macro spark__sorted_array_agg(value, where) -%}
    array_sort(collect_list({{ 'case when ' ~ where ~ ' then ' ~ value ~ ' end' if where else value }}))
{%- endmacro %}

{% macro empty_text_array() -%}{{ return(adapter.dispatch('empty_text_array')()) }}{%- endmacro %}
{% macro default__empty_text_array() -%}'{}'::text[]{%- endmacro %}
{% macro spark__empty_text_array() -%}cast(array() as array<string>){%- endmacro %}

{#- An array of the comma-separated `items` (SQL expressions) that are not null. -#}
{% macro array_without_nulls(items) -%}{{ return(adapter.dispatch('array_without_nulls')(items)) }}{%- endmacro %}
{% macro default__array_without_nulls(items) -%}array_remove(array[{{ items }}], null){%- endmacro %}
{% macro spark__array_without_nulls(items) -%}array_compact(array({{ items }})){%- endmacro %}

{#- The array shares an element with the comma-separated `items`. -#}
{% macro arrays_overlap(array, items) -%}{{ return(adapter.dispatch('arrays_overlap')(array, items)) }}{%- endmacro %}
{% macro default__arrays_overlap(array, items) -%}{{ array }} && array[{{ items }}]{%- endmacro %}
{% macro spark__arrays_overlap(array, items) -%}arrays_overlap({{ array }}, array({{ items }})){%- endmacro %}
