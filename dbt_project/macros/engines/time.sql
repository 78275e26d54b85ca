{#-
    Instants and UTC periods. Postgres: timestamptz, read in UTC with `at time zone`; Spark: timestamp in the
    session's time zone, which the profile sets to UTC. The ends of time are Postgres' infinities; elsewhere the
    first and last representable instants.
-#}

{#- A shop timestamp (naive, UTC by Prisma's convention) as an instant. -#}
{% macro utc_instant(naive) -%}{{ return(adapter.dispatch('utc_instant')(naive)) }}{%- endmacro %}
{% macro default__utc_instant(naive) -%}{{ naive }} at time zone 'UTC'{%- endmacro %}
{% macro spark__utc_instant(naive) -%}cast({{ naive }} as timestamp){%- endmacro %}
{% macro redshift__utc_instant(naive) -%}convert_timezone('UTC', 'UTC', {{ naive }})::timestamptz{%- endmacro %}

{#- The UTC day of an instant. -#}
{% macro utc_date(instant) -%}{{ return(adapter.dispatch('utc_date')(instant)) }}{%- endmacro %}
{% macro default__utc_date(instant) -%}({{ instant }} at time zone 'UTC')::date{%- endmacro %}
{% macro spark__utc_date(instant) -%}to_date({{ instant }}){%- endmacro %}

{#- The start of an instant's UTC period (hour, day, week: Monday), as an instant. -#}
{% macro utc_period_start(period, instant) -%}
    {{ return(adapter.dispatch('utc_period_start')(period, instant)) }}
{%- endmacro %}
{% macro default__utc_period_start(period, instant) -%}
    date_trunc('{{ period }}', {{ instant }} at time zone 'UTC') at time zone 'UTC'
{%- endmacro %}
{% macro spark__utc_period_start(period, instant) -%}date_trunc('{{ period }}', {{ instant }}){%- endmacro %}

{#- Seconds from one instant to another (fractional). -#}
{% macro seconds_between(start, end) -%}{{ return(adapter.dispatch('seconds_between')(start, end)) }}{%- endmacro %}
{% macro default__seconds_between(start, end) -%}extract(epoch from {{ end }} - {{ start }}){%- endmacro %}
{#- Spark: exact microseconds, as a decimal whose quotients keep their scale (decimal(38, 6) would cap it at 6). -#}
{% macro spark__seconds_between(start, end) -%}
    cast(unix_micros({{ end }}) - unix_micros({{ start }}) as decimal(20, 0)) / 1000000
{%- endmacro %}
{% macro redshift__seconds_between(start, end) -%}datediff(microsecond, {{ start }}, {{ end }}) / 1000000.0{%- endmacro %}

{#- Whole days from one date to another. -#}
{% macro days_between(start, end) -%}{{ return(adapter.dispatch('days_between')(start, end)) }}{%- endmacro %}
{% macro default__days_between(start, end) -%}({{ end }} - {{ start }}){%- endmacro %}
{% macro spark__days_between(start, end) -%}datediff({{ end }}, {{ start }}){%- endmacro %}

{#- The ends of time, as instants. -#}
{% macro end_of_time() -%}{{ return(adapter.dispatch('end_of_time')()) }}{%- endmacro %}
{% macro default__end_of_time() -%}'infinity'::timestamptz{%- endmacro %}
{% macro spark__end_of_time() -%}timestamp'9999-12-31 23:59:59.999999'{%- endmacro %}
{% macro redshift__end_of_time() -%}'9999-12-31 23:59:59.999999+00'::timestamptz{%- endmacro %}

{% macro start_of_time() -%}{{ return(adapter.dispatch('start_of_time')()) }}{%- endmacro %}
{% macro default__start_of_time() -%}'-infinity'::timestamptz{%- endmacro %}
{% macro spark__start_of_time() -%}timestamp'0001-01-01 00:00:00'{%- endmacro %}
{% macro redshift__start_of_time() -%}'4713-01-01 00:00:00 BC+00'::timestamptz{%- endmacro %}

{#- The UTC date a period (week: from Monday) of an instant starts on. -#}
{% macro utc_period_date(period, instant) -%}
    {{ return(adapter.dispatch('utc_period_date')(period, instant)) }}
{%- endmacro %}
{% macro default__utc_period_date(period, instant) -%}
    date_trunc('{{ period }}', {{ instant }} at time zone 'UTC')::date
{%- endmacro %}
{% macro spark__utc_period_date(period, instant) -%}to_date(date_trunc('{{ period }}', {{ instant }})){%- endmacro %}

{#- The UTC hour a lake partition path ('YYYY/MM/DD/HH') names, as an instant. -#}
{% macro partition_hour(path) -%}{{ return(adapter.dispatch('partition_hour')(path)) }}{%- endmacro %}
{% macro default__partition_hour(path) -%}
    to_timestamp({{ path }}, 'YYYY/MM/DD/HH24')::timestamp at time zone 'UTC'
{%- endmacro %}
{% macro spark__partition_hour(path) -%}to_timestamp({{ path }}, 'yyyy/MM/dd/HH'){%- endmacro %}

{#- One row per hour from `start` to `stop` (instants on the hour), as `alias.column`, joined laterally. -#}
{% macro hour_series(start, stop, alias, column) -%}
    {{ return(adapter.dispatch('hour_series')(start, stop, alias, column)) }}
{%- endmacro %}
{% macro default__hour_series(start, stop, alias, column) -%}
    cross join lateral generate_series({{ start }}, {{ stop }}, interval '1 hour') as {{ alias }} ({{ column }})
{%- endmacro %}
{% macro spark__hour_series(start, stop, alias, column) -%}
    lateral view explode(sequence({{ start }}, {{ stop }}, interval 1 hour)) {{ alias }} as {{ column }}
{%- endmacro %}
