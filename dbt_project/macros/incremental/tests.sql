{#-
    Data tests on the rows the latest run wrote, by name: a scheduled build then costs what changed, not the whole
    history. Every row is checked when it is written; keys are also guarded by the warehouse (unique indexes,
    primary keys), and a full refresh restamps everything. `clickstream dbt test --vars '{data_tests_scope: all}'`
    makes these check every row too. Any other test (unique, not_null, ...) checks every row, as always.
-#}

{#- `model`'s rows with the newest dbt_processed_at (a literal: the planner sees how few they are). -#}
{% macro latest_run_rows(model) -%}
    {%- if var('data_tests_scope', 'latest_run') != 'latest_run' or not can_query() -%}
        {{ return(model) }}
    {%- endif -%}
    {%- set newest = run_query(
        "select " ~ dbt.cast("max(dbt_processed_at)", type_text()) ~ " from " ~ model
    ).columns[0].values()[0] -%}
    {%- if not newest -%}
        {{ return(model) }}
    {%- endif -%}
    {{ return(
        "(select * from " ~ model ~ " where dbt_processed_at >= " ~ timestamp_literal(newest) ~ ") as latest_run"
    ) }}
{%- endmacro %}

{% test unique_in_latest_run(model, column_name) %}
    {{ dbt.default__test_unique(latest_run_rows(model), column_name) }}
{% endtest %}

{% test not_null_in_latest_run(model, column_name) %}
    {{ dbt.default__test_not_null(latest_run_rows(model), column_name) }}
{% endtest %}

{% test accepted_values_in_latest_run(model, column_name, values, quote=true) %}
    {{ dbt.default__test_accepted_values(latest_run_rows(model), column_name, values, quote) }}
{% endtest %}

{% test relationships_in_latest_run(model, column_name, to, field) %}
    {{ dbt.default__test_relationships(latest_run_rows(model), column_name, to, field) }}
{% endtest %}
