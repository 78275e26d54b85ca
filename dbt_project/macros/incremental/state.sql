{#-
    The incremental state: the run's stamp and each model's watermark (intermediate.dbt_runs, dbt_watermarks;
    tables of the loader's schema migrations, declared as the source dbt_state).

    The run's stamp comes from the warehouse's clock, not the machine running dbt, and always moves forward: a
    laptop whose clock is ahead of the ETL Lambda's cannot make later runs skip rows.
-#}

{#- on-run-start: this invocation's stamp, once. -#}
{% macro start_run() -%}
    {{ return(adapter.dispatch('start_run')()) }}
{%- endmacro %}

{% macro default__start_run() -%}
    insert into {{ source('dbt_state', 'dbt_runs') }} (invocation_id, stamp)
    select
        '{{ invocation_id }}',
        greatest(
            clock_timestamp(),
            (
                select max(processed_through) from {{ source('dbt_state', 'dbt_watermarks') }}
                where processed_through < 'infinity'
            ) + interval '1 millisecond'
        )
    on conflict (invocation_id) do nothing
{%- endmacro %}

{#- The run's stamp, as a literal; dbt's own start time where the run has no stamp (compile, unit tests). -#}
{% macro run_started() -%}
    {%- set stamp = run_started_at.isoformat() -%}
    {%- if can_query() -%}
        {%- set found = run_query(
            "select " ~ dbt.cast("stamp", type_text()) ~ " from intermediate.dbt_runs"
            ~ " where invocation_id = '" ~ invocation_id ~ "'"
        ) -%}
        {%- if found.rows | length > 0 -%}
            {%- set stamp = found.columns[0].values()[0] -%}
        {%- endif -%}
    {%- endif -%}
    {{ timestamp_literal(stamp) }}
{%- endmacro %}

{#-
    The run up to which this model has consumed its inputs ('-infinity' before its first run), as a literal:
    with a subquery the planner cannot see the value, guesses a third of the rows changed, and scans whole
    tables; with the literal it uses the dbt_processed_at indexes and the cost follows the change.
-#}
{% macro watermark() -%}
    {%- set found = none -%}
    {%- if can_query() -%}
        {%- set found = run_query(
            "select " ~ dbt.cast("max(processed_through)", type_text()) ~ " from intermediate.dbt_watermarks"
            ~ " where model_name = '" ~ this.identifier ~ "'"
        ).columns[0].values()[0] -%}
    {%- endif -%}
    {{ timestamp_literal(found) if found is not none else start_of_time() }}
{%- endmacro %}

{#- This run's inputs are consumed (the materialization, after the model's rows are written). -#}
{% macro save_watermark_sql() -%}
    insert into intermediate.dbt_watermarks (model_name, processed_through)
    values ('{{ this.identifier }}', {{ run_started() }})
    on conflict (model_name) do update
    set processed_through = excluded.processed_through, updated_at = now()
{%- endmacro %}

{#-
    Staging reads raw.events by the id of the transaction that wrote each row (raw.events.load_txid). The
    window starts at txid_done (a literal, so the planner uses the index); before the model reads, the horizon
    pg_snapshot_xmin is recorded — every transaction below it had finished — and after, it becomes the next
    start. Rows written after the horizon may be read twice (merged by the unique key), and no row is ever
    skipped, whatever order the loader's concurrent writers committed in.
-#}
{% macro open_txid_window_sql() -%}
    insert into intermediate.dbt_watermarks (model_name, processed_through, txid_pending)
    values ('{{ this.identifier }}', '-infinity', pg_snapshot_xmin(pg_current_snapshot())::text::bigint)
    on conflict (model_name) do update set txid_pending = excluded.txid_pending
{%- endmacro %}

{% macro close_txid_window_sql() -%}
    update intermediate.dbt_watermarks
    set txid_done = txid_pending, processed_through = {{ run_started() }}, updated_at = now()
    where model_name = '{{ this.identifier }}'
{%- endmacro %}

{#- A filter for staging: raw rows written since the last run (`true` on a full build). -#}
{% macro new_raw_rows(column='load_txid') -%}
    {%- if is_incremental() -%}
        {%- set found = run_query(
            "select coalesce(max(txid_done), 0) from intermediate.dbt_watermarks where model_name = '"
            ~ this.identifier ~ "'"
        ) -%}
        {{ adapter.dispatch('raw_rows_after')(column, found.columns[0].values()[0]) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Rows written after the window's start `done` (a transaction id: every transaction below it had finished). -#}
{% macro default__raw_rows_after(column, done) -%}{{ column }} >= {{ done }}{%- endmacro %}

{#- A filter: rows of an incremental input (re)computed since this model last ran (`true` on a full build). -#}
{% macro processed_since_last_run(column='dbt_processed_at') -%}
    {%- if is_incremental() -%}
        {{ column }} > {{ watermark() }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#-
    is_incremental() as dbt defines it, also true for this project's kinds (materialized='clickstream_incremental'):
    a model's own incremental logic reads the same way as in any dbt project.
-#}
{% macro is_incremental() %}
    {% if not can_query() or not engine_runs_incrementally() %}
        {{ return(false) }}
    {% endif %}
    {% set relation = adapter.get_relation(this.database, this.schema, this.table) %}
    {{ return(
        relation is not none
        and relation.type == 'table'
        and model.config.materialized in ('incremental', 'clickstream_incremental')
        and not should_full_refresh()
    ) }}
{% endmacro %}
