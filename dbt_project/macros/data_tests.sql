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
        {#- a literal, not a subquery: the planner then sees how few rows the latest run wrote -#}
        {%- set newest = run_query("select max(dbt_processed_at)::text from " ~ relation).columns[0].values()[0] -%}
        {%- set latest = "dbt_processed_at >= '" ~ newest ~ "'::timestamptz" if newest else "true" -%}
        {%- set where = latest ~ (" and (" ~ where ~ ")" if where else "") -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return("(select * from " ~ relation ~ " where " ~ where ~ ") as dbt_subquery") -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}
