{#-
    The project's incremental kinds (macros/incremental) on Spark: Parquet tables, no transactions, no DELETE. A run
    computes the model's rows of the changed scope only (the same scopes as on PostgreSQL), then writes the next
    table as the previous rows outside the scope plus the new rows inside it, and swaps it in (copy on write: the
    work that grows with history is a copy, the model's SQL runs on the change). The raw window is driven by the
    loader's load ids (the lake has no transaction ids): dbt_watermarks.txid_done holds the last load id read.
    The state tables are append-only here: a model's watermark is its latest row.
-#}

{% materialization clickstream_incremental, adapter='spark' -%}
    {%- set kind = config.require('incremental_kind') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set reads_raw = kind == 'key' and config.get('reads_raw', false) -%}
    {#- the raw window closes at the newest load present before the model reads (later ones are read again) -#}
    {%- set raw_window_end = spark_newest_load_id() if reads_raw else 0 -%}
    {{ run_hooks(pre_hooks) }}
    {%- if existing_relation is none or should_full_refresh() or existing_relation.is_view -%}
        {% do adapter.drop_relation(target_relation) %}
        {% call statement('main') %}
            {{ get_create_table_as_sql(False, target_relation, stamped_rows(sql)) }}
        {% endcall %}
    {%- else -%}
        {%- set new_relation = spark_work_relation('new') -%}
        {%- set next_relation = spark_work_relation('next') -%}
        {% do adapter.drop_relation(new_relation) %}
        {% do adapter.drop_relation(next_relation) %}
        {% do run_query(spark_scratch_table_sql(new_relation, stamped_rows(sql))) %}
        {%- set columns = adapter.get_columns_in_relation(existing_relation) | map(attribute='name') | list -%}
        {%- set rows = spark_replaced_scope(kind, target_relation, new_relation, columns) -%}
        {% call statement('main') %}
            {{ get_create_table_as_sql(False, next_relation, rows) }}
        {% endcall %}
        {% do adapter.drop_relation(target_relation) %}
        {% do adapter.rename_relation(next_relation, target_relation) %}
        {% do adapter.drop_relation(new_relation) %}
        {% do adapter.drop_relation(spark_work_relation('changed')) %}
    {%- endif -%}
    {% do run_query(spark_save_watermark_sql(raw_window_end)) %}
    {% do persist_docs(target_relation, model) %}
    {{ run_hooks(post_hooks) }}
    {{ return({'relations': [target_relation]}) }}
{%- endmaterialization %}

{#- A scratch table beside the model (`<model>__new`, `<model>__next`). -#}
{% macro spark_work_relation(suffix) -%}
    {{ return(api.Relation.create(schema=this.schema, identifier=this.identifier ~ '__' ~ suffix, type='table')) }}
{%- endmacro %}

{#- A scratch table: no contract (the model's contract is checked on the table swapped in). -#}
{% macro spark_scratch_table_sql(relation, sql) -%}
    create table {{ relation }} using parquet as {{ sql }}
{%- endmacro %}

{#- The model's unique key, as a list of columns. -#}
{% macro spark_unique_key() -%}
    {%- set keys = config.require('unique_key') -%}
    {{ return([keys] if keys is string else keys) }}
{%- endmacro %}

{% macro spark_newest_load_id() -%}
    {%- set found = run_query("select coalesce(max(load_id), 0) from " ~ source('raw', 'events')) -%}
    {{ return(found.columns[0].values()[0]) }}
{%- endmacro %}

{#-
    The next table's rows: the previous rows outside the changed scope, then the new rows inside it (the new rows
    of a model that read more than its scope are cut to it). Side effects first, while both tables exist: the
    client kinds log the spans of what they change, a rebuilt-and-compared model its client windows.
-#}
{% macro spark_replaced_scope(kind, target, new, columns) -%}
    {%- set listed = columns | join(', ') -%}
    {%- if kind == 'key' -%}
        {%- set keys = spark_unique_key() -%}
        {%- set on -%}
            {% for key in keys %}{{ 'and ' if not loop.first }}old_rows.{{ key }} = new_rows.{{ key }} {% endfor %}
        {%- endset -%}
        {%- set kept = 'select old_rows.* from ' ~ target ~ ' as old_rows left anti join ' ~ new ~ ' as new_rows on ' ~ on -%}
        {%- set added = 'select * from ' ~ new -%}
    {%- elif kind == 'period' -%}
        {%- set ranges = changed_ranges() -%}
        {%- set kept = 'select * from ' ~ target ~ ' as old_rows where not coalesce(' ~ in_period_scope('old_rows', ranges) ~ ', false)' -%}
        {%- set added = 'select * from ' ~ new ~ ' as new_rows where ' ~ in_period_scope('new_rows', ranges) -%}
    {%- elif kind == 'client' -%}
        {%- if config.get('logs_spans') -%}
            {% do spark_log_changed_spans(target, new, columns) %}
        {%- endif -%}
        {%- set kept -%}
            select old_rows.* from {{ target }} as old_rows
            left anti join ({{ client_scope() }}) as changed_scope on {{ client_scope_join('old_rows') }}
        {%- endset -%}
        {%- set added -%}
            select new_rows.* from {{ new }} as new_rows
            left semi join ({{ client_scope() }}) as changed_scope on {{ client_scope_join('new_rows') }}
        {%- endset -%}
    {%- elif kind == 'compared' -%}
        {%- set changed = spark_work_relation('changed') -%}
        {% do adapter.drop_relation(changed) %}
        {% do run_query(spark_scratch_table_sql(changed, spark_changed_rows_sql(target, new, columns))) %}
        {%- set windows = config.get('logs_client_windows') or [] -%}
        {%- if windows -%}
            {% do run_query(spark_log_client_windows_sql(changed, windows)) %}
        {%- endif -%}
        {%- set keys = spark_unique_key() -%}
        {%- set kept = 'select old_rows.* from ' ~ target ~ ' as old_rows left anti join ' ~ changed ~ ' as changed_rows using (' ~ keys | join(', ') ~ ')' -%}
        {%- set added = 'select new_rows.* from ' ~ new ~ ' as new_rows left semi join ' ~ changed ~ ' as changed_rows using (' ~ keys | join(', ') ~ ')' -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error("unknown incremental_kind " ~ kind) }}
    {%- endif -%}
    {%- set rows -%}
        select {{ listed }} from ({{ kept }}) as kept_rows
        union all
        select {{ listed }} from ({{ added }}) as added_rows
    {%- endset -%}
    {{ return(rows) }}
{%- endmacro %}

{#- A rebuilt-and-compared model's rows that differ (by key, every column but the stamp), with their old and new
    client windows. -#}
{% macro spark_changed_rows_sql(target, new, columns) -%}
    {%- set keys = spark_unique_key() -%}
    {%- set windows = config.get('logs_client_windows') or [] -%}
    select
        {{ keys | join(', ') }}
        {%- for column in windows %},
        old_rows.{{ column }} as old_{{ column }},
        new_rows.{{ column }} as new_{{ column }}
        {%- endfor %}
    from {{ target }} as old_rows
    full outer join {{ new }} as new_rows using ({{ keys | join(', ') }})
    where not (
        {%- for column in columns if column not in keys and column != 'dbt_processed_at' %}
        {{ 'and ' if not loop.first }}old_rows.{{ column }} <=> new_rows.{{ column }}
        {%- endfor %}
        and old_rows.{{ keys[0] }} is not null and new_rows.{{ keys[0] }} is not null
    )
{%- endmacro %}

{% macro spark_log_client_windows_sql(changed, windows) -%}
    insert into intermediate.dbt_changed_client_windows (changed_at, client_id, started_at, ended_at)
    {%- for side in ['old', 'new'] %}
    select distinct {{ run_started() }}, {{ side }}_{{ windows | join(', ' ~ side ~ '_') }}
    from {{ changed }}
    where {{ side }}_{{ windows | join(' is not null and ' ~ side ~ '_') }} is not null
    {{- '\n    union' if loop.first }}
    {%- endfor %}
{%- endmacro %}

{#-
    A client kind's logged spans (log_changed_spans_sql in macros/incremental), run before the swap: the rows of the
    recomputed windows before and after (those that differ, with logs_changes_of), kept in `<model>__spans`.
-#}
{% macro spark_log_changed_spans(target, new, dest_columns) -%}
    {%- set spans = config.get('logs_spans') -%}
    {%- set compared, columns = logged_span_columns(dest_columns) -%}
    {%- set replaced_rows -%}
        select {{ columns }} from {{ target }} as old_rows
        left semi join ({{ client_scope('sessions') }}) as changed_scope on {{ client_scope_join('old_rows') }}
    {%- endset -%}
    {%- set new_rows -%}
        select {{ columns }} from {{ new }} as new_rows
        left semi join ({{ client_scope('sessions') }}) as changed_scope on {{ client_scope_join('new_rows') }}
    {%- endset -%}
    {%- set changed_rows -%}
        {%- if compared -%}
        (({{ replaced_rows }}) except ({{ new_rows }})) union all (({{ new_rows }}) except ({{ replaced_rows }}))
        {%- else -%}
        ({{ replaced_rows }}) union all ({{ new_rows }})
        {%- endif -%}
    {%- endset -%}
    {%- set changed = spark_work_relation('spans') -%}
    {% do adapter.drop_relation(changed) %}
    {% do run_query(spark_scratch_table_sql(changed, changed_rows)) %}
    {%- set logged -%}
        insert into intermediate.dbt_changed_spans (changed_at, started_at, ended_at, topic)
        select distinct {{ run_started() }}, changed.{{ spans[0] }}, changed.{{ spans[1] }}, '{topic}'
        from {{ changed }} as changed
    {%- endset -%}
    {%- if config.get('reads_order_changes') -%}
        {#- a row outside the windows of session changes was recomputed only because its orders changed -#}
        {%- set session_windows -%}
            join ({{ client_scope('sessions', order_changes=false) }}) as changed_scope on {{ client_scope_join('changed') }}
        {%- endset -%}
        {% do run_query(logged.replace('{topic}', 'sessions') ~ ' left semi ' ~ session_windows) %}
        {% do run_query(logged.replace('{topic}', 'revenue') ~ ' left anti ' ~ session_windows) %}
    {%- else -%}
        {% do run_query(logged.replace('{topic}', 'sessions')) %}
    {%- endif -%}
    {% do adapter.drop_relation(changed) %}
{%- endmacro %}

{#- The watermark: a row per run (the latest wins); the raw window's end for staging. -#}
{% macro spark_save_watermark_sql(raw_window_end=0) -%}
    insert into intermediate.dbt_watermarks (model_name, processed_through, txid_done, txid_pending, updated_at)
    values ('{{ this.identifier }}', {{ run_started() }}, {{ raw_window_end }}, 0, current_timestamp())
{%- endmacro %}

{#- Raw rows of loads after the last one staging read (`done`, a load id: the lake's loads are written one at a
    time, in order). -#}
{% macro spark__raw_rows_after(column, done) -%}load_id > {{ done }}{%- endmacro %}

{% macro spark_period_step(period) -%}
    {{ return({'hour': 'interval 1 hour', 'day': 'interval 1 day', 'week': 'interval 7 day'}[period]) }}
{%- endmacro %}

{% macro spark__changed_periods(period) -%}
    {%- if config.get('counts_quarantined', false) -%}
        {{ recomputed_window_periods(period) }}
    {%- else -%}
    {%- set topics = config.get('span_topics', ['sessions']) -%}
    select distinct period_start
    from (
        select explode(sequence(
            date_trunc('{{ period }}', started_at), date_trunc('{{ period }}', ended_at), {{ spark_period_step(period) }}
        )) as period_start
        from intermediate.dbt_changed_spans
        where
            changed_at > {{ watermark() }}
            and topic in ('{{ topics | join("', '") }}')
    ) as periods
    {%- endif -%}
{%- endmacro %}

{% macro spark__recomputed_window_periods(period) -%}
    select distinct period_start
    from (
    select explode(sequence(
        date_trunc(
            '{{ period }}',
            case when recomputed_from = {{ start_of_time() }} then first_event_at else recomputed_from end
        ),
        date_trunc(
            '{{ period }}',
            case when recomputed_until = {{ end_of_time() }} then last_event_at else recomputed_until end
        ),
        {{ spark_period_step(period) }}
    )) as period_start
    from ({{ recomputed_windows() }}) as windows
    ) as periods
{%- endmacro %}

{#- Adjacent changed periods merged into [start, end) ranges (UTC periods have fixed lengths: seconds suffice). -#}
{% macro spark__changed_ranges(period) -%}
    {%- set seconds = {'hour': 3600, 'day': 86400, 'week': 604800}[period] -%}
    {%- set found = run_query(
        "select cast(min(period_start) as string), cast(max(period_start) + make_dt_interval(0, 0, 0, "
        ~ seconds ~ ") as string) from (select period_start, unix_seconds(period_start) - row_number() over"
        ~ " (order by period_start) * " ~ seconds ~ " as island from (" ~ changed_periods(period) ~ ") as periods)"
        ~ " as numbered group by island order by 1"
    ) -%}
    {%- do return(found.rows) -%}
{%- endmacro %}

{% macro spark__in_ranges(column, ranges, cast) -%}
    {%- set spark_type = 'date' if cast == 'date' else 'timestamp' -%}
    {%- if ranges | length == 0 -%}
        false
    {%- else -%}
        ({% for row in ranges %}{% if not loop.first %} or {% endif %}({{ column }} >= cast('{{ row[0] }}' as {{ spark_type }}) and {{ column }} < cast('{{ row[1] }}' as {{ spark_type }})){% endfor %})
    {%- endif -%}
{%- endmacro %}
