"""The warehouse's own tables: schema ``raw`` (the raw lake's events), schema ``raw_shop`` (the shop database's
copy, ``loader/shop_schema.py``) and the dbt models' incremental state (``intermediate.dbt_*``), created and migrated
by the loader, idempotently, under the run lock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

    from loader.config import WarehouseSettings

# Append-only: each entry is applied once, in order, and recorded in raw.schema_migrations.
MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        create table raw.load_runs (
            load_id bigserial primary key,
            started_at timestamptz not null default now(),
            finished_at timestamptz,
            status text not null default 'running'
                check (status in ('running', 'succeeded', 'partial', 'failed', 'aborted')),
            trigger text not null default 'cli',
            params jsonb not null default '{}',
            objects integer not null default 0,
            bytes bigint not null default 0,
            events integer not null default 0,
            duplicates integer not null default 0,
            rejected integer not null default 0,
            failed_objects integer not null default 0,
            error text
        );

        create table raw.load_manifest (
            source_key text primary key,
            size bigint not null,
            etag text,
            partition_hour timestamptz,
            load_id bigint not null references raw.load_runs (load_id),
            events integer not null,
            duplicates integer not null,
            rejected integer not null,
            loaded_at timestamptz not null default now()
        );
        create index load_manifest_partition_hour on raw.load_manifest (partition_hour);

        create table raw.events (
            event_id uuid primary key,
            received_at timestamptz not null,
            event_at timestamptz not null,
            payload jsonb not null,
            source_key text not null,
            load_id bigint not null,
            loaded_at timestamptz not null default now(),
            -- The writing transaction: dbt reads new rows by transaction-id window (correct whatever the
            -- commit order of concurrent writers).
            load_txid bigint not null default (pg_current_xact_id()::text::bigint)
        );
        create index events_load_txid on raw.events (load_txid);

        create table raw.rejected_events (
            rejected_id bigserial primary key,
            source_key text not null,
            position integer,
            reason text not null,
            raw_text text,
            load_id bigint not null,
            rejected_at timestamptz not null default now()
        );
        create index rejected_events_source_key on raw.rejected_events (source_key);

        comment on table raw.events is 'One row per event (event_id unique): the canonical event as jsonb, with _ingest and _enriched blocks.';
        comment on table raw.rejected_events is 'Objects or events that failed the contract at load: quarantined, never dropped.';
        comment on table raw.load_manifest is 'One row per loaded object, written in the same transaction as its rows.';
        comment on table raw.load_runs is 'One row per loader run.';
        """,
    ),
    (
        2,
        """
        create table raw.user_agents (
            user_agent text primary key,
            parsed jsonb not null,
            parsed_at timestamptz not null default now()
        );
        comment on table raw.user_agents is
            'Parsed User-Agent headers, so each is parsed once (refreshed after 180 days, picking up parser updates).';
        """,
    ),
    (
        3,
        """
        create table raw.load_failures (
            source_key text primary key,
            size bigint not null,
            etag text,
            attempts integer not null default 1,
            first_failed_at timestamptz not null default now(),
            last_failed_at timestamptz not null default now(),
            last_error text not null
        );
        comment on table raw.load_failures is
            'Objects a run could not read: every later run tries them again, whatever their partition, until loaded.';
        """,
    ),
    # The dbt models' incremental state (dbt's source dbt_state): one migration path for the warehouse's own tables.
    (
        4,
        """
        create schema if not exists intermediate;
        create table if not exists intermediate.dbt_runs (
            invocation_id text primary key,
            stamp timestamptz not null,
            started_at timestamptz not null default now()
        );
        create table if not exists intermediate.dbt_watermarks (
            model_name text primary key,
            processed_through timestamptz not null,
            txid_done bigint not null default 0,
            txid_pending bigint not null default 0,
            updated_at timestamptz not null default now()
        );
        alter table intermediate.dbt_watermarks add column if not exists txid_done bigint not null default 0;
        alter table intermediate.dbt_watermarks add column if not exists txid_pending bigint not null default 0;
        create table intermediate.dbt_changed_spans (
            changed_at timestamptz not null,
            started_at timestamptz not null,
            ended_at timestamptz not null
        );
        create index dbt_changed_spans_changed_at on intermediate.dbt_changed_spans (changed_at);
        drop table if exists intermediate.dbt_changed_sessions;
        comment on table intermediate.dbt_runs is 'dbt invocations that wrote models, with their stamp (macros/incremental).';
        comment on table intermediate.dbt_watermarks is 'Per incremental model: up to which run it consumed its inputs.';
        comment on table intermediate.dbt_changed_spans is 'Spans of rows replaced or rebuilt by a run: the periods to recompute.';
        """,
    ),
    # The shop database's copy (loader/shop_schema.py lists the same columns; a test compares them), and the client
    # windows that rebuilt models log for the client kinds downstream (order changes reaching sessions and clients).
    (
        5,
        """
        create schema raw_shop;
        create table raw_shop.sync_runs (
            sync_id bigserial primary key,
            started_at timestamptz not null default now(),
            finished_at timestamptz,
            status text not null default 'running' check (status in ('running', 'succeeded', 'failed', 'aborted')),
            trigger text not null default 'cli',
            source text not null,
            full_resync boolean not null default false,
            tables jsonb not null default '{}',
            error text
        );
        create table raw_shop.sync_state (
            table_name text primary key,
            watermark timestamp(3),
            last_sync_id bigint not null references raw_shop.sync_runs (sync_id),
            updated_at timestamptz not null default now()
        );
        create table raw_shop.users (
            id text primary key, created_at timestamp(3), updated_at timestamp(3),
            _sync_id bigint not null, _synced_at timestamptz not null default now(), _deleted_at timestamptz
        );
        create table raw_shop.brands (
            id text primary key, name text, slug text, image_url text, created_at timestamp(3),
            _sync_id bigint not null, _synced_at timestamptz not null default now(), _deleted_at timestamptz
        );
        create table raw_shop.categories (
            id text primary key, title text, slug text, image_url text, created_at timestamp(3),
            _sync_id bigint not null, _synced_at timestamptz not null default now(), _deleted_at timestamptz
        );
        create table raw_shop.product_categories (
            id text primary key, product_id text, category_id text,
            _sync_id bigint not null, _synced_at timestamptz not null default now(), _deleted_at timestamptz
        );
        create table raw_shop.products (
            id text primary key, name text, slug text, description text, price numeric, discount numeric,
            stock integer, status text, variant text, is_featured boolean, brand_id text, images text[],
            created_at timestamp(3), updated_at timestamp(3),
            _sync_id bigint not null, _synced_at timestamptz not null default now(), _deleted_at timestamptz
        );
        create table raw_shop.orders (
            id text primary key, user_id text, order_number text, status text, total_price numeric,
            payment_status text, created_at timestamp(3), updated_at timestamp(3),
            _sync_id bigint not null, _synced_at timestamptz not null default now(), _deleted_at timestamptz
        );
        create index orders_user_id on raw_shop.orders (user_id);
        create table raw_shop.order_items (
            id text primary key, order_id text, product_id text, quantity integer, price numeric,
            _sync_id bigint not null, _synced_at timestamptz not null default now(), _deleted_at timestamptz
        );
        create index order_items_order_id on raw_shop.order_items (order_id);
        comment on schema raw_shop is 'The shop database''s tables, copied by the ETL (loader/shop_sync.py); never written by dbt.';
        comment on table raw_shop.sync_runs is 'One row per sync of the shop database.';
        comment on table raw_shop.sync_state is 'Per table: the last updatedAt seen (the next sync re-reads from it, minus an overlap).';

        create table intermediate.dbt_changed_client_windows (
            changed_at timestamptz not null,
            client_id text not null,
            started_at timestamptz not null,
            ended_at timestamptz not null
        );
        create index dbt_changed_client_windows_changed_at on intermediate.dbt_changed_client_windows (changed_at);
        comment on table intermediate.dbt_changed_client_windows is
            'Client windows whose rows a rebuilt model changed (orders moving between sessions): the client kinds recompute them.';
        """,
    ),
    # Ad spend per day, channel and campaign (`clickstream ad-spend import`): what ROAS divides by.
    (
        6,
        """
        create table raw.ad_spend (
            date_day date not null,
            channel text not null,
            campaign text not null default '(not set)',
            spend numeric not null check (spend >= 0),
            source_file text,
            imported_at timestamptz not null default now(),
            primary key (date_day, channel, campaign)
        );
        comment on table raw.ad_spend is
            'Ad spend in VND per day, channel and campaign, imported from CSV files (clickstream ad-spend import).';
        """,
    ),
    # The spans' topic: a period mart recomputes the periods of the topics it reads (sessions; revenue: an order's
    # status changing alone recomputes the funnel's days, not the journeys', traffic's or products').
    (
        7,
        """
        alter table intermediate.dbt_changed_spans add column topic text not null default 'sessions';
        comment on column intermediate.dbt_changed_spans.topic is
            'sessions: rows a session change replaced or rebuilt; revenue: rows only an order change recomputed.';
        """,
    ),
    # 6 is another branch's. The ETL's own runs (load, shop sync, dbt build, health checks) for the dashboard's data
    # health page; the loader's runs stay in raw.load_runs.
    (
        8,
        """
        create table raw.etl_runs (
            etl_run_id bigserial primary key,
            started_at timestamptz not null,
            finished_at timestamptz not null default now(),
            status text not null check (status in ('succeeded', 'failed', 'skipped')),
            trigger text not null,
            load_id bigint,
            load_status text,
            objects integer not null default 0,
            events integer not null default 0,
            rejected integer not null default 0,
            shop_status text,
            models_ok integer not null default 0,
            models_failed integer not null default 0,
            tests_failed integer not null default 0,
            health_status text,
            health_failures text[] not null default '{}',
            freshness_status text,
            seconds numeric not null default 0,
            message text
        );
        create index etl_runs_started_at on raw.etl_runs (started_at);
        comment on table raw.etl_runs is
            'One row per ETL run (loader/etl.py): the load, the shop sync, the dbt build and the health checks.';
        """,
    ),
    # A run that stopped loading at its time budget (the Lambda's remaining time) is partial: the next continues.
    (
        9,
        """
        alter table raw.etl_runs drop constraint etl_runs_status_check;
        alter table raw.etl_runs add constraint etl_runs_status_check
            check (status in ('succeeded', 'partial', 'failed', 'skipped'));
        """,
    ),
]


# Spans older than every model's watermark, and old run stamps, are purged at each migrate (cheap, indexed).
_PURGE = """
    delete from intermediate.dbt_changed_spans
    where changed_at <= (
        select min(processed_through) from intermediate.dbt_watermarks where updated_at > now() - interval '30 days'
    );
    delete from intermediate.dbt_changed_client_windows
    where changed_at <= (
        select min(processed_through) from intermediate.dbt_watermarks where updated_at > now() - interval '30 days'
    );
    delete from intermediate.dbt_runs where started_at < now() - interval '7 days'
"""


def migrate(conn: psycopg.Connection[Any]) -> int:
    """Bring schema ``raw`` up to date; returns the number of migrations applied."""
    with conn.transaction():
        conn.execute("create schema if not exists raw")
        conn.execute(
            "create table if not exists raw.schema_migrations "
            "(version integer primary key, applied_at timestamptz not null default now())"
        )
        done = {row[0] for row in conn.execute("select version from raw.schema_migrations")}
        applied = 0
        for version, sql in MIGRATIONS:
            if version in done:
                continue
            conn.execute(sql)
            conn.execute("insert into raw.schema_migrations (version) values (%s)", (version,))
            applied += 1
        conn.execute(_PURGE)
    return applied


def migrate_warehouse(settings: WarehouseSettings) -> int:
    """``migrate`` on a connection of its own (dbt commands, ``clickstream db migrate``)."""
    from loader.warehouse import connect

    with connect(settings, autocommit=True) as conn:
        return migrate(conn)
