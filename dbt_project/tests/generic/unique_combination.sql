{#- No two rows share the same values in `columns` (a composite primary key); `latest_run_only`: among the rows
    the latest run wrote (macros/incremental/tests.sql). -#}
{% test unique_combination(model, columns, latest_run_only=false) %}
    select {{ columns | join(', ') }}, count(*) as occurrences
    from {{ latest_run_rows(model) if latest_run_only else model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}
