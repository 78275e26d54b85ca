{#-
    The materialization behind the kinds in kinds.sql (dbt's incremental materialization, with the project's
    scopes): the first run and --full-refresh build the table whole; later runs write the model's rows into a
    temporary table, then in one transaction delete the target's rows of the changed scope, insert the temporary
    rows of that scope only, log the spans the period marts recompute, and save the watermark. Every row is
    stamped with dbt_processed_at, the run's stamp.
-#}
{% materialization clickstream_incremental, adapter='postgres' -%}
    {%- set kind = config.require('incremental_kind') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set temp_relation = make_temp_relation(target_relation) -%}
    {%- set intermediate_relation = make_intermediate_relation(target_relation) -%}
    {%- set backup_type = 'table' if existing_relation is none else existing_relation.type -%}
    {%- set backup_relation = make_backup_relation(target_relation, backup_type) -%}
    {%- set full_refresh_mode = should_full_refresh() or (existing_relation is not none and existing_relation.is_view) -%}
    {%- set on_schema_change = incremental_validate_on_schema_change(config.get('on_schema_change'), default='fail') -%}
    {%- set grant_config = config.get('grants') -%}
    {%- set stamped_sql = stamped_rows(sql) -%}

    {{ drop_relation_if_exists(load_cached_relation(intermediate_relation)) }}
    {{ drop_relation_if_exists(load_cached_relation(backup_relation)) }}
    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- set to_drop = [] -%}
    {%- set need_swap = false -%}
    {%- if kind == 'key' and config.get('reads_raw') -%}
        {% do run_query(open_txid_window_sql()) %}
    {%- endif -%}
    {%- if existing_relation is none -%}
        {%- set build_sql = get_create_table_as_sql(False, target_relation, stamped_sql) -%}
        {%- set written_relation = target_relation -%}
    {%- elif full_refresh_mode -%}
        {%- set build_sql = get_create_table_as_sql(False, intermediate_relation, stamped_sql) -%}
        {%- set written_relation = intermediate_relation -%}
        {%- set need_swap = true -%}
    {%- else -%}
        {% do run_query(get_create_table_as_sql(True, temp_relation, stamped_sql)) %}
        {%- set dest_columns = process_schema_changes(on_schema_change, temp_relation, existing_relation)
            or adapter.get_columns_in_relation(existing_relation) -%}
        {%- set build_sql = clickstream_replace_sql(kind, target_relation, temp_relation, dest_columns) -%}
        {%- set written_relation = target_relation -%}
    {%- endif -%}

    {% call statement('main') %}
        {{ build_sql }}
    {% endcall %}

    {%- if existing_relation is none or full_refresh_mode -%}
        {% do create_indexes(written_relation) %}
    {%- endif -%}
    {%- if need_swap -%}
        {% do adapter.rename_relation(target_relation, backup_relation) %}
        {% do adapter.rename_relation(intermediate_relation, target_relation) %}
        {% do to_drop.append(backup_relation) %}
    {%- endif -%}
    {% do run_query(clickstream_after_sql(kind, target_relation)) %}

    {% do apply_grants(target_relation, grant_config, should_revoke=should_revoke(existing_relation, full_refresh_mode)) %}
    {% do persist_docs(target_relation, model) %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do adapter.commit() %}
    {%- for relation in to_drop -%}
        {% do adapter.drop_relation(relation) %}
    {%- endfor -%}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{%- endmaterialization %}

{#- The model's rows, each stamped with the run's stamp (dbt_processed_at). -#}
{% macro stamped_rows(sql) -%}
    select model_rows.*, {{ run_started() }} as dbt_processed_at
    from (
        {{ sql }}
    ) as model_rows
{%- endmacro %}

{#- A row of `alias` and a window of `changed_scope` (client_scope) match. -#}
{% macro client_scope_join(alias) -%}
    {%- set time_column = config.get('time_column') -%}
    changed_scope.client_id = {{ alias }}.client_id
    {%- if time_column %}
    and {{ alias }}.{{ time_column }} between changed_scope.recomputed_from and changed_scope.recomputed_until
    {%- endif -%}
{%- endmacro %}

{#- The rows of a client kind's scope in `alias` (`scope`: 'sessions' for the recomputed windows only), as a
    predicate. -#}
{% macro in_client_scope(alias, scope=none) -%}
    exists (select 1 from ({{ client_scope(scope) }}) as changed_scope where {{ client_scope_join(alias) }})
{%- endmacro %}

{#- The rows of a period kind's changed periods, as a predicate on `alias` (the changed ranges read once). -#}
{% macro in_period_scope(alias, ranges) -%}
    {%- set cast = 'timestamptz' if config.get('period') == 'hour' else 'date' -%}
    {%- set columns = config.get('period_columns') -%}
    {%- if ranges | length == 0 -%}
        false
    {%- else -%}
        ({% for column in columns %}{% if not loop.first %} or {% endif %}{{ in_ranges(alias ~ '.' ~ column, ranges, cast) }}{% endfor %})
    {%- endif -%}
{%- endmacro %}

{#-
    An incremental run's writes, in one statement list: delete the target's rows of the changed scope, insert the
    new rows of the same scope (a model that reads more than its scope writes no row outside it). Client kinds
    log the spans of the rows they delete and insert, for the period marts.
-#}
{% macro clickstream_replace_sql(kind, target, temp, dest_columns) -%}
    {%- set columns = dest_columns | map(attribute='quoted') | join(', ') -%}
    {%- if kind == 'key' -%}
        {{ get_delete_insert_merge_sql(target, temp, config.get('unique_key'), dest_columns, none) }}
    {%- elif kind == 'period' -%}
        {%- set ranges = changed_ranges() -%}
        delete from {{ target }} as target_rows where {{ in_period_scope('target_rows', ranges) }};
        insert into {{ target }} ({{ columns }})
        select {{ columns }} from {{ temp }} as new_rows where {{ in_period_scope('new_rows', ranges) }};
    {%- elif kind == 'compared' -%}
        {{ compared_replace_sql(target, temp, dest_columns) }}
    {%- elif kind == 'client' -%}
        {%- set spans = config.get('logs_spans') -%}
        {%- if spans -%}
            {#- the rows about to be replaced in the recomputed windows, to log what changed once the new ones are in
                (a stitched user changing alone changes no period: no period mart groups by it) -#}
            create temporary table replaced_rows on commit drop as
            select target_rows.* from {{ target }} as target_rows
            inner join ({{ client_scope('sessions') }}) as changed_scope on {{ client_scope_join('target_rows') }};
        {%- endif %}
        {#- driven by the scope (small) through the target's (client_id, time) index -#}
        delete from {{ target }} as target_rows
        using ({{ client_scope() }}) as changed_scope
        where {{ client_scope_join('target_rows') }};
        insert into {{ target }} ({{ columns }})
        select {{ columns }} from {{ temp }} as new_rows where {{ in_client_scope('new_rows') }};
        {%- if spans %}
        {{ log_changed_spans_sql(temp, spans, dest_columns) }};
        {%- endif -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error("unknown incremental_kind " ~ kind) }}
    {%- endif -%}
{%- endmacro %}

{#-
    Log the (start, end) spans of the replaced rows and of the new ones, for the period kinds. `logs_changes_of`:
    only of rows whose values in these columns ('*': all but the stamp) differ between the two (a client's
    first-seen instant matters to the period marts, not its other columns; an unchanged cart changes no day).
-#}
{#-
    The columns a client kind's span log compares and keeps: (the compared columns, or none when every replaced and
    new row is logged; the compared, span and placing columns, joined). `column_names`: the model's columns.
-#}
{% macro logged_span_columns(column_names) -%}
    {%- set compared = config.get('logs_changes_of') -%}
    {%- if compared == '*' -%}
        {%- set compared = column_names | reject('equalto', 'dbt_processed_at') | list -%}
    {%- endif -%}
    {#- the topic needs each row's client and time -#}
    {%- set placed = (['client_id', config.get('time_column')] | select | list) if config.get('reads_order_changes') else [] -%}
    {{ return([compared or [], ((compared or []) + config.get('logs_spans') + placed) | unique | join(', ')]) }}
{%- endmacro %}

{% macro log_changed_spans_sql(temp, spans, dest_columns) -%}
    {%- set compared, columns = logged_span_columns(dest_columns | map(attribute='name') | list) -%}
    {%- set new_rows -%}
        select * from {{ temp }} as new_rows where {{ in_client_scope('new_rows', 'sessions') }}
    {%- endset -%}
    create temporary table changed_spans on commit drop as
    select distinct changed.*
    from (
        {%- if compared %}
        (select {{ columns }} from replaced_rows except select {{ columns }} from ({{ new_rows }}) as new_rows)
        union all
        (select {{ columns }} from ({{ new_rows }}) as new_rows except select {{ columns }} from replaced_rows)
        {%- else %}
        select {{ columns }} from replaced_rows
        union all
        select {{ columns }} from ({{ new_rows }}) as new_rows
        {%- endif %}
    ) as changed;
    {%- if config.get('reads_order_changes') %}
    {#- a row outside the windows of session changes was recomputed only because its orders changed: topic revenue
        (semi- and anti-joins in where clauses, so each is hashed) -#}
    {%- set session_windows -%}
        select 1 from ({{ client_scope('sessions', order_changes=false) }}) as changed_scope
        where {{ client_scope_join('changed') }}
    {%- endset %}
    insert into intermediate.dbt_changed_spans (changed_at, started_at, ended_at, topic)
    select distinct {{ run_started() }}, changed.{{ spans[0] }}, changed.{{ spans[1] }}, 'sessions'
    from changed_spans as changed
    where exists ({{ session_windows }});
    insert into intermediate.dbt_changed_spans (changed_at, started_at, ended_at, topic)
    select distinct {{ run_started() }}, changed.{{ spans[0] }}, changed.{{ spans[1] }}, 'revenue'
    from changed_spans as changed
    where not exists ({{ session_windows }})
    {%- else %}
    insert into intermediate.dbt_changed_spans (changed_at, started_at, ended_at, topic)
    select distinct {{ run_started() }}, changed.{{ spans[0] }}, changed.{{ spans[1] }}, 'sessions'
    from changed_spans as changed
    {%- endif %}
{%- endmacro %}

{#-
    A rebuilt-and-compared model's writes: the previous rows and the new ones are matched on the unique key (a hash
    join: EXCEPT over every column sorted both tables, 5 s for 100k order items) and compared on all columns but the
    stamp; the rows that differ, old and new, have their client windows logged; only the keys that differ are deleted
    and inserted (the unchanged rows keep their stamp).
-#}
{% macro compared_replace_sql(target, temp, dest_columns) -%}
    {%- set key_columns = config.require('unique_key') -%}
    {%- set key_columns = [key_columns] if key_columns is string else key_columns -%}
    {%- set key = key_columns | join(', ') -%}
    {%- set compared = dest_columns | map(attribute='quoted') | reject('equalto', '"dbt_processed_at"') | list -%}
    {%- set windows = config.get('logs_client_windows') or [] -%}
    create temporary table changed_rows on commit drop as
    select
        {{ key }}
        {%- for column in windows %},
        old_rows.{{ column }} as old_{{ column }},
        new_rows.{{ column }} as new_{{ column }}
        {%- endfor %}
    from {{ target }} as old_rows
    full outer join {{ temp }} as new_rows using ({{ key }})
    where
        (
            {%- for column in compared %}old_rows.{{ column }}{{ ', ' if not loop.last }}{% endfor -%}
        ) is distinct from (
            {%- for column in compared %}new_rows.{{ column }}{{ ', ' if not loop.last }}{% endfor -%}
        );
    {%- if windows %}
    insert into intermediate.dbt_changed_client_windows (changed_at, client_id, started_at, ended_at)
    {%- for side in ['old', 'new'] %}
    select distinct {{ run_started() }}, {{ side }}_{{ windows | join(', ' ~ side ~ '_') }}
    from changed_rows
    where {{ side }}_{{ windows | join(' is not null and ' ~ side ~ '_') }} is not null
    {{- '\n    union' if loop.first else ';' }}
    {%- endfor %}
    {%- endif %}
    delete from {{ target }} where ({{ key }}) in (select {{ key }} from changed_rows);
    insert into {{ target }} ({{ dest_columns | map(attribute='quoted') | join(', ') }})
    select {{ dest_columns | map(attribute='quoted') | join(', ') }} from {{ temp }}
    where ({{ key }}) in (select {{ key }} from changed_rows);
{%- endmacro %}

{#- After the rows are written: the watermark (and staging's transaction-id window). -#}
{% macro clickstream_after_sql(kind, target) -%}
    {%- if kind == 'key' and config.get('reads_raw') -%}
        {{ close_txid_window_sql() }}
    {%- else -%}
        {{ save_watermark_sql() }}
    {%- endif -%}
{%- endmacro %}
