{#-
    One row per key, the first in an order: `select {{ distinct_on('k') }} ... {{ first_per_key('k', 'x desc') }}`
    in place of the select's `distinct on (k)` and its `order by k, x desc`. Postgres: distinct on; elsewhere
    row_number() = 1 in a qualify clause.
-#}
{% macro distinct_on(keys) -%}{{ return(adapter.dispatch('distinct_on')(keys)) }}{%- endmacro %}
{% macro default__distinct_on(keys) -%}distinct on ({{ keys }}){%- endmacro %}
{% macro spark__distinct_on(keys) -%}{%- endmacro %}
{% macro redshift__distinct_on(keys) -%}{%- endmacro %}

{#- A row reached twice through overlapping windows, once (the copies are identical): `select {{ once_per(key) }} t.*`. -#}
{% macro once_per(keys) -%}{{ return(adapter.dispatch('once_per')(keys)) }}{%- endmacro %}
{% macro default__once_per(keys) -%}distinct on ({{ keys }}){%- endmacro %}
{% macro spark__once_per(keys) -%}distinct{%- endmacro %}
{% macro redshift__once_per(keys) -%}distinct{%- endmacro %}

{% macro first_per_key(keys, order=none) -%}{{ return(adapter.dispatch('first_per_key')(keys, order)) }}{%- endmacro %}
{% macro default__first_per_key(keys, order) -%}order by {{ keys }}{{ ', ' ~ order if order }}{%- endmacro %}
{% macro spark__first_per_key(keys, order) -%}
    qualify row_number() over (partition by {{ keys }} order by {{ order or keys }}) = 1
{%- endmacro %}
{% macro redshift__first_per_key(keys, order) -%}{{ spark__first_per_key(keys, order) }}{%- endmacro %}

{#- A delimited list of the group's values, in order (dbt.listagg on Spark ignores the order). -#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    listagg({{ measure }}, {{ delimiter_text }}){{ ' within group (' ~ order_by_clause ~ ')' if order_by_clause }}
{%- endmacro %}

{#-
    An aggregate: `value` of the group's first row in `order_by` (a list of 'column asc|desc'), among the rows
    where `where` holds. Postgres: (array_agg(... order by ...) filter (...))[1]; Spark: min_by/max_by over the
    order columns (all ascending or all descending).
-#}
{% macro first_by(value, order_by, where=none) -%}
    {{ return(adapter.dispatch('first_by')(value, order_by, where)) }}
{%- endmacro %}
{% macro default__first_by(value, order_by, where) -%}
    (array_agg({{ value }} order by {{ order_by | join(', ') }}){{ ' filter (where ' ~ where ~ ')' if where }})[1]
{%- endmacro %}
{% macro spark__first_by(value, order_by, where) -%}
    {%- set directions = [] -%}
    {%- set columns = [] -%}
    {%- for term in order_by -%}
        {%- set parts = term.split() -%}
        {%- do columns.append(parts[0]) -%}
        {%- do directions.append(parts[1] | lower if parts | length > 1 else 'asc') -%}
    {%- endfor -%}
    {%- if directions | unique | list | length > 1 -%}
        {{ exceptions.raise_compiler_error("first_by on Spark: order by one direction, got " ~ order_by) }}
    {%- endif -%}
    {%- set key = 'struct(' ~ columns | join(', ') ~ ')' -%}
    {{ 'max_by' if directions[0] == 'desc' else 'min_by' }}(
        {{ value }},
        {{ 'case when ' ~ where ~ ' then ' ~ key ~ ' end' if where else key }}
    )
{%- endmacro %}

{#- `with x as {{ materialized_cte() }} (...)`: computed once (Postgres' hint; Spark and Redshift plan CTEs themselves). -#}
{% macro materialized_cte() -%}{{ return(adapter.dispatch('materialized_cte')()) }}{%- endmacro %}
{% macro default__materialized_cte() -%}materialized{%- endmacro %}
{% macro spark__materialized_cte() -%}{%- endmacro %}
{% macro redshift__materialized_cte() -%}{%- endmacro %}

{#- `column` is one of the subquery's values. Postgres: = any(array(...)), which the planner reads as a list of values. -#}
{% macro in_subquery(column, subquery) -%}{{ return(adapter.dispatch('in_subquery')(column, subquery)) }}{%- endmacro %}
{% macro default__in_subquery(column, subquery) -%}{{ column }} = any(array({{ subquery }})){%- endmacro %}
{% macro spark__in_subquery(column, subquery) -%}{{ column }} in ({{ subquery }}){%- endmacro %}
{% macro redshift__in_subquery(column, subquery) -%}{{ column }} in ({{ subquery }}){%- endmacro %}

{#-
    Columns to rows: each of `columns` of `relation` becomes a row (`alias.name_column` the column's name,
    `alias.value_column` its value), joined laterally (after the from clause's joins on Spark).
-#}
{% macro unpivot(relation, columns, alias, name_column, value_column) -%}
    {{ return(adapter.dispatch('unpivot')(relation, columns, alias, name_column, value_column)) }}
{%- endmacro %}
{% macro default__unpivot(relation, columns, alias, name_column, value_column) -%}
    cross join lateral (
        values
        {%- for column in columns %}
        ('{{ column }}', {{ relation }}.{{ column }}){{ ',' if not loop.last }}
        {%- endfor %}
    ) as {{ alias }} ({{ name_column }}, {{ value_column }})
{%- endmacro %}
{% macro spark__unpivot(relation, columns, alias, name_column, value_column) -%}
    lateral view stack(
        {{ columns | length }}
        {%- for column in columns %}, '{{ column }}', {{ relation }}.{{ column }}{% endfor %}
    ) {{ alias }} as {{ name_column }}, {{ value_column }}
{%- endmacro %}
