{#-
    Data tests check the rows the latest run (re)computed, so a scheduled build costs what changed, not the
    whole history: a model with dbt_processed_at is tested on its newest batch. Every row is tested when it is
    written, keys are also guarded by the warehouse (unique indexes, primary keys), and a full refresh restamps
    everything. `clickstream dbt test --vars '{data_tests_scope: all}'` tests every row.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set latest_only = var('data_tests_scope') == 'latest_run' and execute
        and 'dbt_processed_at' in (adapter.get_columns_in_relation(relation) | map(attribute='name') | list) -%}
    {%- if latest_only -%}
        {%- set latest = "dbt_processed_at >= (select max(dbt_processed_at) from " ~ relation ~ ")" -%}
        {%- set where = latest ~ (" and (" ~ where ~ ")" if where else "") -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return("(select * from " ~ relation ~ " where " ~ where ~ ") as dbt_subquery") -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}
