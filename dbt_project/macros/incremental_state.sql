{#-
    Incremental state. Every model below staging stamps the rows it (re)computes with `dbt_processed_at`
    (the run's stamp) and remembers, per model, up to which run it has consumed its inputs. A model then
    reads only input rows processed after its own watermark.

    The run's stamp comes from the warehouse's clock, not the machine running dbt, and always moves
    forward: a laptop whose clock is ahead of the ETL Lambda's cannot make later runs skip rows.
-#}

{% macro create_watermarks_table() %}
    create schema if not exists intermediate;
    create table if not exists intermediate.dbt_watermarks (
        model_name text primary key,
        processed_through timestamptz not null,
        txid_done bigint not null default 0,
        txid_pending bigint not null default 0,
        updated_at timestamptz not null default now()
    );
    alter table intermediate.dbt_watermarks add column if not exists txid_done bigint not null default 0;
    alter table intermediate.dbt_watermarks add column if not exists txid_pending bigint not null default 0;
    create table if not exists intermediate.dbt_runs (
        invocation_id text primary key,
        stamp timestamptz not null,
        started_at timestamptz not null default now()
    );
    insert into intermediate.dbt_runs (invocation_id, stamp)
    select
        '{{ invocation_id }}',
        greatest(
            clock_timestamp(),
            (select max(processed_through) from intermediate.dbt_watermarks where processed_through < 'infinity')
            + interval '1 millisecond'
        )
    on conflict (invocation_id) do nothing;
    delete from intermediate.dbt_runs where started_at < now() - interval '7 days';
    {#- Kept sessions that incremental runs replaced in fct_sessions, and first-seen instants that moved: their days and hours must be recomputed. -#}
    create table if not exists intermediate.dbt_changed_sessions (
        changed_at timestamptz not null,
        started_at timestamptz not null,
        ended_at timestamptz not null
    );
    create index if not exists dbt_changed_sessions_changed_at on intermediate.dbt_changed_sessions (changed_at);
    delete from intermediate.dbt_changed_sessions
    where changed_at <= (
        select min(processed_through) from intermediate.dbt_watermarks where updated_at > now() - interval '30 days'
    );
{% endmacro %}

{#- The run's stamp, as a literal (see the header); dbt's own start time where the hook has not run (compile). -#}
{% macro run_started() -%}
    {%- set stamp = run_started_at.isoformat() -%}
    {%- if execute and run_query("select to_regclass('intermediate.dbt_runs') is not null").columns[0].values()[0] -%}
        {%- set found = run_query(
            "select stamp::text from intermediate.dbt_runs where invocation_id = '" ~ invocation_id ~ "'"
        ) -%}
        {%- if found.rows | length > 0 -%}
            {%- set stamp = found.columns[0].values()[0] -%}
        {%- endif -%}
    {%- endif -%}
    '{{ stamp }}'::timestamptz
{%- endmacro %}

{#-
    Staging reads raw.events by the id of the transaction that wrote each row (raw.events.load_txid). The
    window starts at txid_done (a literal, so the planner uses the index); its pre-hook records the horizon
    pg_snapshot_xmin at the start of the run — every transaction below it had finished — and the post-hook
    makes that the next start. Rows written after the horizon may be read twice (merged by event_id), and no
    row is ever skipped, whatever order the loader's concurrent writers committed in.
-#}
{% macro open_txid_window() -%}
    insert into intermediate.dbt_watermarks (model_name, processed_through, txid_pending)
    values ('{{ this.identifier }}', '-infinity', pg_snapshot_xmin(pg_current_snapshot())::text::bigint)
    on conflict (model_name) do update set txid_pending = excluded.txid_pending
{%- endmacro %}

{% macro txid_window(column) -%}
    {%- if execute -%}
        {%- set found = run_query(
            "select coalesce(max(txid_done), 0) from intermediate.dbt_watermarks where model_name = '" ~ this.identifier ~ "'"
        ) -%}
        {{ column }} >= {{ found.columns[0].values()[0] }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{% macro close_txid_window() -%}
    update intermediate.dbt_watermarks
    set txid_done = txid_pending, processed_through = {{ run_started() }}, updated_at = now()
    where model_name = '{{ this.identifier }}'
{%- endmacro %}

{#-
    The run up to which this model has consumed its inputs ('-infinity' before its first run), as a literal:
    with a subquery the planner cannot see the value, guesses a third of the rows changed, and scans whole
    tables; with the literal it uses the dbt_processed_at indexes and the cost follows the change.
-#}
{% macro watermark() -%}
    {%- if execute -%}
        {%- set found = run_query(
            "select coalesce(max(processed_through)::text, '-infinity') from intermediate.dbt_watermarks"
            ~ " where model_name = '" ~ this.identifier ~ "'"
        ) -%}
        '{{ found.columns[0].values()[0] }}'::timestamptz
    {%- else -%}
        '-infinity'::timestamptz
    {%- endif -%}
{%- endmacro %}

{#- Post-hook: this run's inputs are consumed. -#}
{% macro save_watermark() -%}
    insert into intermediate.dbt_watermarks (model_name, processed_through)
    values ('{{ this.identifier }}', {{ run_started() }})
    on conflict (model_name) do update
    set processed_through = excluded.processed_through, updated_at = now()
{%- endmacro %}

{#-
    The windows of sessionized events recomputed since this model's watermark: per client, from
    recomputed_from to recomputed_until. Each window starts and ends at session boundaries, before and
    after the recomputation, so a session is either wholly inside a window or wholly outside.
-#}
{% macro changed_windows() -%}
    select distinct
        client_id,
        recomputed_from,
        recomputed_until
    from {{ ref('int_events_sessionized') }}
    where dbt_processed_at > {{ watermark() }}
{%- endmacro %}

{#- The windows whose mart rows are rebuilt: recomputed windows, plus all of a client whose stitched user changed. -#}
{% macro mart_client_scope() -%}
    select
        client_id,
        recomputed_from,
        recomputed_until
    from ({{ changed_windows() }}) as windows
    union all
    select
        client_id,
        '-infinity'::timestamptz,
        'infinity'::timestamptz
    from {{ ref('int_clients_stitched') }}
    where identity_changed_at > {{ watermark() }}
{%- endmacro %}

{#-
    Pre-hook of a model whose rows are recomputed per client window: delete them, so rows that no longer
    exist after the recomputation (a session merged into another one) disappear. `scope_sql` selects
    (client_id, recomputed_from, recomputed_until) and is evaluated before the model's own SQL.
-#}
{% macro delete_client_windows(time_column, scope_sql) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as target
        using ({{ scope_sql }}) as scope
        where
            target.client_id = scope.client_id
            and target.{{ time_column }} between scope.recomputed_from and scope.recomputed_until
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of fct_sessions: remember the kept sessions it is about to replace (their periods change). -#}
{% macro log_replaced_sessions() -%}
    {%- if is_incremental() -%}
        insert into intermediate.dbt_changed_sessions (changed_at, started_at, ended_at)
        select
            {{ run_started() }},
            target.started_at,
            target.ended_at
        from {{ this }} as target
        inner join ({{ changed_windows() }}) as windows
            on
                target.client_id = windows.client_id
                and target.started_at between windows.recomputed_from and windows.recomputed_until
    {%- endif -%}
{%- endmacro %}

{#-
    Pre- and post-hook of dim_clients: a client's first-seen instant (new clients per hour, retention
    cohorts) can move only when one of its windows starts at or before it; log it, before and after.
-#}
{% macro log_first_seen() -%}
    {%- if is_incremental() -%}
        insert into intermediate.dbt_changed_sessions (changed_at, started_at, ended_at)
        select distinct
            {{ run_started() }},
            clients.first_seen_at,
            clients.first_seen_at
        from {{ this }} as clients
        inner join ({{ changed_windows() }}) as windows
            on clients.client_id = windows.client_id and windows.recomputed_from <= clients.first_seen_at
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of an aggregate keyed by a period: delete the periods that this run recomputes. -#}
{% macro delete_periods(period_column, periods_sql) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ period_column }} in ({{ periods_sql }})
    {%- endif -%}
{%- endmacro %}

{#-
    UTC days, hours or weeks (`period`) whose mart rows can have changed: those spanned by the kept
    sessions replaced in fct_sessions and by the kept sessions rebuilt there, and clients' first-seen
    instants before and after a change (logged by dim_clients), since this model's watermark.
    Quarantined sessions (bots, zombies) are in no mart, so however long they grow they cost nothing here.
-#}
{% macro changed_periods(period) -%}
    select distinct periods.period_start
    from (
        select
            replaced.started_at,
            replaced.ended_at
        from intermediate.dbt_changed_sessions as replaced
        where replaced.changed_at > {{ watermark() }}
        union all
        select
            sessions.started_at,
            sessions.ended_at
        from {{ ref('fct_sessions') }} as sessions
        inner join ({{ changed_windows() }}) as windows
            on
                sessions.client_id = windows.client_id
                and sessions.started_at between windows.recomputed_from and windows.recomputed_until
    ) as spans
    cross join lateral generate_series(
        date_trunc('{{ period }}', spans.started_at at time zone 'UTC'),
        date_trunc('{{ period }}', spans.ended_at at time zone 'UTC'),
        interval '1 {{ period }}'
    ) as periods (period_start)
{%- endmacro %}

{#-
    The changed periods as literal ranges [start, end) of timestamptz, adjacent periods merged, read when the
    model runs (its inputs are built by then). With literal bounds the planner sees how little changed and
    scans one index range per run of periods; with a subquery it guesses and scans the whole history.
-#}
{% macro changed_ranges(period) -%}
    {%- if not execute -%}
        {%- do return([]) -%}
    {%- endif -%}
    {%- set step = "interval '1 " ~ period ~ "'" -%}
    {%- set found = run_query(
        "select (min(period_start) at time zone 'UTC')::text, ((max(period_start) + " ~ step ~ ") at time zone 'UTC')::text"
        ~ " from (select period_start, period_start - row_number() over (order by period_start) * " ~ step ~ " as island"
        ~ " from (" ~ changed_periods(period) ~ ") as periods) as numbered group by island order by 1"
    ) -%}
    {%- do return(found.rows) -%}
{%- endmacro %}

{#- A filter: `column` (timestamptz) falls in one of the changed periods (`true` when parsing). -#}
{% macro in_changed_periods(column, period) -%}
    {%- set ranges = changed_ranges(period) -%}
    {%- if not execute -%}
        true
    {%- elif ranges | length == 0 -%}
        false
    {%- else -%}
        ({% for row in ranges %}{% if not loop.first %} or {% endif %}({{ column }} >= '{{ row[0] }}'::timestamptz and {{ column }} < '{{ row[1] }}'::timestamptz){% endfor %})
    {%- endif -%}
{%- endmacro %}

{#- The first instant of the earliest changed period, a timestamptz literal ('infinity' when none changed). -#}
{% macro first_changed_instant(period) -%}
    {%- set ranges = changed_ranges(period) -%}
    '{{ ranges[0][0] if ranges | length > 0 else ('-infinity' if not execute else 'infinity') }}'::timestamptz
{%- endmacro %}

{#- Changed UTC days as date_day (a date). -#}
{% macro changed_days() -%}
    select periods.period_start::date as date_day
    from ({{ changed_periods('day') }}) as periods
{%- endmacro %}

{#- UTC weeks (Mondays) whose retention cells can have changed. -#}
{% macro changed_weeks() -%}
    select distinct periods.period_start::date as activity_week
    from ({{ changed_periods('week') }}) as periods
{%- endmacro %}

{#- Pre-hook of int_clients_weekly_active: each changed client's weeks that its windows touch. -#}
{% macro delete_client_weeks() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as target
        using ({{ changed_windows() }}) as scope
        where
            target.client_id = scope.client_id
            and target.activity_week
            between date_trunc('week', scope.recomputed_from at time zone 'UTC')::date
            and date_trunc('week', scope.recomputed_until at time zone 'UTC')::date
    {%- endif -%}
{%- endmacro %}

{#-
    Carts (fct_cart_items): a checkout's cart depends on the client's events since its last completed checkout,
    so for each client with a recomputed window, every cart from the start of its earliest window on is
    recomputed (carts before that cannot change); all of a client whose stitched user changed (user_id). Their days are logged before and after, like first-seen
    instants, so the product marts recompute them.
-#}
{% macro cart_scope() -%}
    select
        client_id,
        min(recomputed_from) as recompute_from
    from ({{ mart_client_scope() }}) as windows
    group by client_id
{%- endmacro %}

{#- Pre-hook of fct_cart_items: log the days of the carts about to be recomputed, then delete them. -#}
{% macro replace_cart_items() -%}
    {%- if is_incremental() -%}
        insert into intermediate.dbt_changed_sessions (changed_at, started_at, ended_at)
        select
            {{ run_started() }},
            target.checkout_at,
            target.checkout_at
        from {{ this }} as target
        inner join ({{ cart_scope() }}) as scope
            on target.client_id = scope.client_id and target.checkout_at >= scope.recompute_from;
        delete from {{ this }} as target
        using ({{ cart_scope() }}) as scope
        where target.client_id = scope.client_id and target.checkout_at >= scope.recompute_from
    {%- endif -%}
{%- endmacro %}

{#- Post-hook of fct_cart_items: log the days of the carts this run wrote. -#}
{% macro log_rebuilt_cart_items() -%}
    {%- if is_incremental() -%}
        insert into intermediate.dbt_changed_sessions (changed_at, started_at, ended_at)
        select distinct
            {{ run_started() }},
            checkout_at,
            checkout_at
        from {{ this }}
        where dbt_processed_at = {{ run_started() }}
    {%- endif -%}
{%- endmacro %}
