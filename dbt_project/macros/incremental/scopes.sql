{#-
    What changed since a model last ran (its watermark), for the kinds in kinds.sql: client windows the
    sessionizer recomputed, and the UTC periods whose rows can have changed.
-#}

{#-
    The windows of sessionized events recomputed since this model's watermark: per client, from
    recomputed_from to recomputed_until. Each window starts and ends at session boundaries, before and
    after the recomputation, so a session is either wholly inside a window or wholly outside. With
    `order_changes` (default: the model's reads_order_changes), also the sessions a rebuilt-and-compared model
    (fct_orders) logged because their orders changed.
-#}
{% macro changed_windows(order_changes=none) -%}
    {%- set order_changes = config.get('reads_order_changes', false) if order_changes is none else order_changes -%}
    select distinct
        client_id,
        recomputed_from,
        recomputed_until
    from {{ ref('int_events_sessionized') }}
    where dbt_processed_at > {{ watermark() }}
    {%- if order_changes %}
    union
    -- sessions whose orders a rebuilt-and-compared model changed (an order's status, or the session it is matched to)
    select
        client_id,
        started_at,
        ended_at
    from intermediate.dbt_changed_client_windows
    where changed_at > {{ watermark() }}
    {%- endif %}
{%- endmacro %}

{#-
    The client windows a client kind recomputes: the recomputed windows, plus (scope 'identity') all of a client
    whose stitched user changed; with open_ended, each changed client's rows from its earliest window on.
-#}
{% macro client_scope(scope=none, open_ended=none, order_changes=none) -%}
    {%- set scope = scope or config.get('client_scope', 'sessions') -%}
    {%- set open_ended = config.get('open_ended', false) if open_ended is none else open_ended -%}
    {%- set windows -%}
        {{ changed_windows(order_changes) }}
        {%- if scope == 'identity' %}
        union all
        select
            client_id,
            {{ start_of_time() }},
            {{ end_of_time() }}
        from {{ ref('int_clients_stitched') }}
        where identity_changed_at > {{ watermark() }}
        {%- endif %}
    {%- endset -%}
    {%- if open_ended -%}
        select
            client_id,
            min(recomputed_from) as recomputed_from,
            {{ end_of_time() }} as recomputed_until
        from ({{ windows }}) as windows
        group by client_id
    {%- else -%}
        {{ windows }}
    {%- endif -%}
{%- endmacro %}

{#-
    A filter for a client kind's input: the row's client and time fall in a recomputed window (`true` on a full
    build). Without it the model is still exact: the materialization keeps only the rows of the windows.
-#}
{% macro in_changed_client_windows(client_column, time_column=none) -%}
    {%- if not is_incremental() -%}
        true
    {%- elif time_column -%}
        exists (
            select 1 from ({{ client_scope() }}) as changed_scope
            where
                changed_scope.client_id = {{ client_column }}
                and {{ time_column }} between changed_scope.recomputed_from and changed_scope.recomputed_until
        )
    {%- else -%}
        {#- an array the planner sees the size of: it reads the changed clients through an index -#}
        {{ in_subquery(client_column, 'select changed_scope.client_id from (' ~ client_scope() ~ ') as changed_scope') }}
    {%- endif -%}
{%- endmacro %}

{#-
    UTC days, hours or weeks (`period`) whose rows can have changed since this model's watermark: those spanned by
    the kept sessions, clients' first-seen instants and carts that incremental runs replaced or rebuilt (the
    client kinds log them in intermediate.dbt_changed_spans), of the topics the model reads (span_topics: sessions,
    and revenue for a model that sums the sessions' revenue). Quarantined sessions (bots, zombies) are in no mart,
    so however long they grow they cost nothing here.
-#}
{% macro changed_periods(period) -%}{{ return(adapter.dispatch('changed_periods')(period)) }}{%- endmacro %}
{% macro default__changed_periods(period) -%}
    {%- if config.get('counts_quarantined', false) -%}
        {{ recomputed_window_periods(period) }}
    {%- else -%}
    {%- set topics = config.get('span_topics', ['sessions']) -%}
    select distinct periods.period_start
    from intermediate.dbt_changed_spans as spans
    cross join lateral generate_series(
        date_trunc('{{ period }}', spans.started_at at time zone 'UTC'),
        date_trunc('{{ period }}', spans.ended_at at time zone 'UTC'),
        interval '1 {{ period }}'
    ) as periods (period_start)
    where
        spans.changed_at > {{ watermark() }}
        and spans.topic in ('{{ topics | join("', '") }}')
    {%- endif -%}
{%- endmacro %}

{#-
    The periods of every window the sessionizer recomputed since this model's watermark, quarantined sessions'
    included: each window holds the new events, the old place of a moved event and whole sessions (so a session
    that became a zombie, or stopped being one, is inside it). A full build of the sessionizer leaves unbounded
    windows ('-infinity' to 'infinity'): those are bounded by the events the build rewrote.
-#}
{#- The windows the sessionizer recomputed since this model's watermark, with their first and last events. -#}
{% macro recomputed_windows() -%}
    select
        recomputed_from,
        recomputed_until,
        min(event_at) as first_event_at,
        max(event_at) as last_event_at
    from {{ ref('int_events_sessionized') }}
    where dbt_processed_at > {{ watermark() }}
    group by recomputed_from, recomputed_until
{%- endmacro %}

{% macro recomputed_window_periods(period) -%}{{ return(adapter.dispatch('recomputed_window_periods')(period)) }}{%- endmacro %}
{% macro default__recomputed_window_periods(period) -%}
    select distinct periods.period_start
    from ({{ recomputed_windows() }}) as windows
    cross join lateral generate_series(
        date_trunc(
            '{{ period }}',
            case when windows.recomputed_from = '-infinity' then windows.first_event_at else windows.recomputed_from end
            at time zone 'UTC'
        ),
        date_trunc(
            '{{ period }}',
            case when windows.recomputed_until = 'infinity' then windows.last_event_at else windows.recomputed_until end
            at time zone 'UTC'
        ),
        interval '1 {{ period }}'
    ) as periods (period_start)
{%- endmacro %}

{#-
    The changed periods as literal ranges [start, end) of timestamptz, adjacent periods merged, read when the
    model runs (its inputs are built by then). With literal bounds the planner sees how little changed and
    scans one index range per run of periods; with a subquery it guesses and scans the whole history.
-#}
{% macro changed_ranges(period=none) -%}
    {%- if not execute -%}
        {%- do return([]) -%}
    {%- endif -%}
    {%- do return(adapter.dispatch('changed_ranges')(period or config.get('period'))) -%}
{%- endmacro %}
{% macro default__changed_ranges(period) -%}
    {%- set step = "interval '1 " ~ period ~ "'" -%}
    {%- set found = run_query(
        "select (min(period_start) at time zone 'UTC')::text, ((max(period_start) + " ~ step ~ ") at time zone 'UTC')::text"
        ~ " from (select period_start, period_start - row_number() over (order by period_start) * " ~ step ~ " as island"
        ~ " from (" ~ changed_periods(period) ~ ") as periods) as numbered group by island order by 1"
    ) -%}
    {%- do return(found.rows) -%}
{%- endmacro %}

{#- A predicate: `column` (timestamptz, or a date) falls in one of the ranges (`false` when there are none). -#}
{% macro in_ranges(column, ranges, cast='timestamptz') -%}
    {{- return(adapter.dispatch('in_ranges')(column, ranges, cast)) -}}
{%- endmacro %}
{% macro default__in_ranges(column, ranges, cast) -%}
    {%- if ranges | length == 0 -%}
        false
    {%- else -%}
        ({% for row in ranges %}{% if not loop.first %} or {% endif %}({{ column }} >= '{{ row[0] }}'::{{ cast }} and {{ column }} < '{{ row[1] }}'::{{ cast }}){% endfor %})
    {%- endif -%}
{%- endmacro %}

{#-
    A filter for a period kind's input: `column` (a timestamptz; `cast='date'` for a date column holding period
    starts) falls in a changed period of the model's period
    (`true` on a full build). Without it the model is still exact: the materialization keeps only the rows of the
    changed periods.
-#}
{% macro in_changed_periods(column, period=none, cast='timestamptz') -%}
    {%- if is_incremental() -%}
        {{ in_ranges(column, changed_ranges(period), cast) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- The first instant of the earliest changed period, a timestamptz literal ('-infinity' on a full build). -#}
{% macro first_changed_instant(period=none) -%}
    {%- if is_incremental() -%}
        {%- set ranges = changed_ranges(period) -%}
        {{ timestamp_literal(ranges[0][0]) if ranges | length > 0 else end_of_time() }}
    {%- else -%}
        {{ start_of_time() }}
    {%- endif -%}
{%- endmacro %}
