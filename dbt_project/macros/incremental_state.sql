{#-
    Incremental state. Every model below staging stamps the rows it (re)computes with `dbt_processed_at`
    (the run's start) and remembers, per model, up to which run it has consumed its inputs. A model
    then reads only input rows processed after its own watermark.
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
{% endmacro %}

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

{% macro run_started() -%}
    '{{ run_started_at.isoformat() }}'::timestamptz
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
    Pre-hook of a model whose rows are recomputed per client from some point on: delete them, so rows that
    no longer exist after the recomputation (a session merged into another one) disappear. `scope_sql`
    selects (client_id, recompute_from) and is evaluated before the model's own SQL.
-#}
{% macro delete_client_tails(time_column, scope_sql) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as target
        using ({{ scope_sql }}) as scope
        where target.client_id = scope.client_id
          and target.{{ time_column }} >= scope.recompute_from
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
    Clients whose sessionized events were recomputed since this model's watermark, from where, and up to
    their latest event. Every session of the client that starts at or after recompute_from was rebuilt.
-#}
{% macro changed_client_tails() -%}
    select
        client_id,
        min(session_started_at) as recompute_from,
        max(event_at) as changed_until
    from {{ ref('int_events_sessionized') }}
    where dbt_processed_at > {{ watermark() }}
    group by client_id
{%- endmacro %}

{#- Clients whose marts rows must be rebuilt: recomputed tails, plus every row of a client whose stitched user changed. -#}
{% macro mart_client_scope() -%}
    select
        client_id,
        min(recompute_from) as recompute_from
    from (
        select client_id, recompute_from from ({{ changed_client_tails() }}) as tails
        union all
        select client_id, '-infinity'::timestamptz
        from {{ ref('int_clients_stitched') }}
        where identity_changed_at > {{ watermark() }}
    ) as changes
    group by client_id
{%- endmacro %}

{#- UTC days or hours (`period`) that recomputed sessions touched, before or after the recomputation. -#}
{% macro changed_periods(period) -%}
    select distinct periods.period_start
    from ({{ changed_client_tails() }}) as tails
    cross join lateral generate_series(
        date_trunc('{{ period }}', tails.recompute_from at time zone 'UTC'),
        date_trunc('{{ period }}', tails.changed_until at time zone 'UTC'),
        interval '1 {{ period }}'
    ) as periods (period_start)
{%- endmacro %}

{#- Changed UTC days as date_day (a date) and day_start (its first instant, timestamptz). -#}
{% macro changed_days() -%}
    select
        periods.period_start::date as date_day,
        periods.period_start at time zone 'UTC' as day_start
    from ({{ changed_periods('day') }}) as periods
{%- endmacro %}

{#- Changed UTC hours as hour_at (timestamptz). -#}
{% macro changed_hours() -%}
    select periods.period_start at time zone 'UTC' as hour_at
    from ({{ changed_periods('hour') }}) as periods
{%- endmacro %}

{#- UTC weeks (Mondays) that recomputed sessions touched. -#}
{% macro changed_weeks() -%}
    select distinct periods.period_start::date as activity_week
    from ({{ changed_periods('week') }}) as periods
{%- endmacro %}

{#- Pre-hook of int_clients_weekly_active: each changed client's weeks from the week its tail starts. -#}
{% macro delete_client_weeks() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as target
        using ({{ changed_client_tails() }}) as scope
        where target.client_id = scope.client_id
          and target.activity_week >= date_trunc('week', scope.recompute_from at time zone 'UTC')::date
    {%- endif -%}
{%- endmacro %}
