{#-
    The incremental machinery on each engine. PostgreSQL runs the project's kinds (macros/incremental), Spark the
    same kinds copy-on-write (spark_incremental.sql); Redshift rebuilds every model whole: same rows, more work.
-#}
{#-
    Whether macros may query the warehouse while the SQL is rendered: not before execution, nor when compiling with
    no warehouse at all (`--vars '{offline_compile: true}'`, how the Redshift build is checked): then the run's stamp
    is dbt's start time and every model compiles as a full build.
-#}
{% macro can_query() -%}{{ return(execute and not var('offline_compile', false)) }}{%- endmacro %}

{% macro engine_runs_incrementally() -%}{{ return(adapter.dispatch('engine_runs_incrementally')()) }}{%- endmacro %}
{% macro default__engine_runs_incrementally() -%}{{ return(true) }}{%- endmacro %}
{% macro redshift__engine_runs_incrementally() -%}{{ return(false) }}{%- endmacro %}

{#- Spark: the stamp moves forward like on PostgreSQL (one dbt invocation at a time: no conflict to handle). -#}
{% macro spark__start_run() -%}
    insert into {{ source('dbt_state', 'dbt_runs') }} (invocation_id, stamp, started_at)
    select
        '{{ invocation_id }}',
        greatest(
            current_timestamp(),
            coalesce(
                (
                    select max(processed_through) + interval 1 millisecond
                    from {{ source('dbt_state', 'dbt_watermarks') }}
                    where processed_through < {{ end_of_time() }}
                ),
                current_timestamp()
            )
        ),
        current_timestamp()
{%- endmacro %}

{#- dbt-redshift would otherwise take the Postgres materialization (transaction ids, temporary tables). -#}
{% materialization clickstream_incremental, adapter='redshift' -%}
    {{ return(clickstream_rebuild_whole()) }}
{%- endmaterialization %}

{% macro clickstream_rebuild_whole() -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {{ run_hooks(pre_hooks) }}
    {% do adapter.drop_relation(target_relation) %}
    {% call statement('main') %}
        {{ get_create_table_as_sql(False, target_relation, stamped_rows(sql)) }}
    {% endcall %}
    {% do persist_docs(target_relation, model) %}
    {{ run_hooks(post_hooks) }}
    {{ return({'relations': [target_relation]}) }}
{%- endmacro %}
