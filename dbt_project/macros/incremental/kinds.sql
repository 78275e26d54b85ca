{#-
    One macro per incremental kind: a model's first line. Each sets the project's materialization and declares
    what the kind reads (so dbt orders the model after it, with no `-- depends_on:` hint). See README.md here.
-#}

{#-
    Rows keyed by UTC period: `period` day, hour or week; `period_columns` the model's period column(s) (a row is
    recomputed when any of them is in a changed period; default date_day, hour_at or activity_week). `reads_revenue`:
    the model sums the sessions' revenue, so the periods of sessions whose orders alone changed (a status set later
    by the shop) are recomputed too; the others recompute only periods whose sessions changed.
-#}
{% macro incremental_by_period(period, period_columns=none, indexes=[], reads_revenue=false) -%}
    {%- if period not in ('day', 'hour', 'week') -%}
        {{ exceptions.raise_compiler_error("incremental_by_period: period must be day, hour or week, got " ~ period) }}
    {%- endif -%}
    {%- set default_column = {'day': 'date_day', 'hour': 'hour_at', 'week': 'activity_week'}[period] -%}
    {%- set columns = [period_columns] if period_columns is string else (period_columns or [default_column]) -%}
    {{ config(
        materialized='clickstream_incremental',
        incremental_kind='period',
        period=period,
        period_columns=columns,
        span_topics=['sessions', 'revenue'] if reads_revenue else ['sessions'],
        indexes=indexes or [{'columns': [columns[0]]}],
        on_schema_change='fail',
    ) }}
    {#- the models that log the changed spans run first -#}
    {%- do ref('fct_sessions') -%}
    {%- do ref('dim_clients') -%}
    {%- do ref('fct_cart_items') -%}
{%- endmacro %}

{#-
    Rows that belong to a client, recomputed inside the windows the sessionizer recomputed: `time_column` places a
    row in time (none: all of a changed client's rows are replaced). `client_scope`: 'sessions' (the windows), or
    'identity' (also all of a client whose stitched user changed: models carrying the stitched user). `open_ended`:
    from a client's earliest window on (rows that depend on all of a client's earlier events, such as carts).
    `logs_spans`: (start, end) columns of rows whose periods the period marts must recompute when they are
    replaced or rebuilt (one column: an instant); `logs_changes_of`: only when these columns ('*': any) differ.
    `reads_order_changes`: the model carries the orders' revenue (fct_orders), so it also recomputes the sessions
    whose orders changed (a status set later by the shop); their spans are logged under the topic revenue.
-#}
{% macro incremental_by_client(
    time_column=none, client_scope='sessions', open_ended=false, logs_spans=none, logs_changes_of=none, indexes=[],
    reads_order_changes=false
) -%}
    {%- set spans = [logs_spans, logs_spans] if logs_spans is string else logs_spans -%}
    {{ config(
        materialized='clickstream_incremental',
        incremental_kind='client',
        time_column=time_column,
        client_scope=client_scope,
        open_ended=open_ended,
        logs_spans=spans,
        logs_changes_of=logs_changes_of,
        reads_order_changes=reads_order_changes,
        indexes=indexes,
        on_schema_change='fail',
    ) }}
    {%- do ref('int_events_sessionized') -%}
    {%- if reads_order_changes -%}
        {%- do ref('fct_orders') -%}
    {%- endif -%}
    {%- if client_scope == 'identity' -%}
        {%- do ref('int_clients_stitched') -%}
    {%- endif -%}
{%- endmacro %}

{#-
    Computed whole by every run, like a plain table, then compared with the previous build: only the rows that
    changed (by `unique_key`) are rewritten, and with `logs_client_windows` ((client, start, end) columns: a window of
    whole sessions) their client windows, old and new, are logged, so the client kinds with reads_order_changes
    recompute them. For models whose rows can change for reasons no event carries (an order's status set later by
    the shop) or with the clock (a cart's outcome), small enough to compute whole.
-#}
{% macro rebuilt_and_compared(unique_key, logs_client_windows=none, indexes=[]) -%}
    {{ config(
        materialized='clickstream_incremental',
        incremental_kind='compared',
        unique_key=[unique_key] if unique_key is string else unique_key,
        logs_client_windows=logs_client_windows,
        indexes=indexes,
        on_schema_change='fail',
    ) }}
{%- endmacro %}

{#-
    Rows replaced by `unique_key`: the model selects, from its inputs, the rows to (re)write (staging and the
    sessionizer read their inputs incrementally themselves). `reads_raw`: the model reads raw.events by the
    loader's transaction ids (`{{ new_raw_rows() }}`).
-#}
{% macro incremental_by_key(unique_key, reads_raw=false, indexes=[]) -%}
    {{ config(
        materialized='clickstream_incremental',
        incremental_kind='key',
        unique_key=unique_key,
        reads_raw=reads_raw,
        indexes=indexes,
        on_schema_change='fail',
    ) }}
{%- endmacro %}
