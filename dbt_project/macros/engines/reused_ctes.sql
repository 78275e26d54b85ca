{#-
    A CTE that later CTEs read more than once, in a chain (Markov matrix squarings, order matching rounds):

        {% call reused_cte('taken_1', earlier_ctes) %} select ... from {{ reused('taken_0') }} ... {% endcall %}

    Postgres: the CTE `taken_1 as (...)`, computed once. Spark inlines a CTE (and a view) at each of its uses, so a
    chain in which every step reads the previous one twice plans 2^steps copies (minutes for ten steps): there each
    step is written to a scratch Parquet table beside the model (`<model>__<name>`, replaced by the next build),
    whose query sees `earlier_ctes` (the text of the model's CTEs before the chain). `reused(name)` names a step in
    either form.
-#}
{% macro reused_cte(name, earlier_ctes) -%}
    {{ return(adapter.dispatch('reused_cte')(name, earlier_ctes, caller())) }}
{%- endmacro %}

{% macro default__reused_cte(name, earlier_ctes, body) -%}
{{ name }} as (
    {{ body }}
),
{%- endmacro %}

{% macro spark__reused_cte(name, earlier_ctes, body) -%}
    {%- if can_query() -%}
        {%- set step = reused(name) -%}
        {%- do run_query('drop table if exists ' ~ step) -%}
        {%- do run_query('create table ' ~ step ~ ' using parquet as with ' ~ earlier_ctes ~ '\n' ~ body) -%}
    {%- endif -%}
{%- endmacro %}

{% macro reused(name) -%}{{ return(adapter.dispatch('reused')(name)) }}{%- endmacro %}
{% macro default__reused(name) -%}{{ name }}{%- endmacro %}
{% macro spark__reused(name) -%}{{ this.schema }}.{{ this.identifier }}__{{ name }}{%- endmacro %}
