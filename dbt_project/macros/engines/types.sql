{#- Type names and literals that differ between engines (a bare numeric rounds to an integer on Spark and Redshift). -#}

{% macro type_text() -%}{{ return(adapter.dispatch('type_text')()) }}{%- endmacro %}
{% macro default__type_text() -%}text{%- endmacro %}
{% macro spark__type_text() -%}string{%- endmacro %}
{% macro redshift__type_text() -%}varchar(65535){%- endmacro %}

{#- An instant (UTC): timestamptz on Postgres and Redshift, Spark's timestamp (session time zone UTC). -#}
{% macro type_instant() -%}{{ return(adapter.dispatch('type_instant')()) }}{%- endmacro %}
{% macro default__type_instant() -%}timestamptz{%- endmacro %}
{% macro spark__type_instant() -%}timestamp{%- endmacro %}

{#- An exact number: unconstrained numeric on Postgres; elsewhere a decimal with room for VND amounts and ratios. -#}
{% macro type_decimal() -%}{{ return(adapter.dispatch('type_decimal')()) }}{%- endmacro %}
{% macro default__type_decimal() -%}numeric{%- endmacro %}
{% macro spark__type_decimal() -%}decimal(38, 12){%- endmacro %}
{% macro redshift__type_decimal() -%}decimal(38, 12){%- endmacro %}

{% macro type_double() -%}{{ return(adapter.dispatch('type_double')()) }}{%- endmacro %}
{% macro default__type_double() -%}float8{%- endmacro %}
{% macro spark__type_double() -%}double{%- endmacro %}

{#- An instant literal from ISO-8601 text. -#}
{% macro timestamp_literal(value) -%}{{ return(adapter.dispatch('timestamp_literal')(value)) }}{%- endmacro %}
{% macro default__timestamp_literal(value) -%}'{{ value }}'::timestamptz{%- endmacro %}
{% macro spark__timestamp_literal(value) -%}cast('{{ value }}' as timestamp){%- endmacro %}
{% macro redshift__timestamp_literal(value) -%}cast('{{ value }}' as timestamptz){%- endmacro %}

{#- A string literal of any text (Spark has no '' escape: a quote is spelled chr(39) there). -#}
{% macro quoted_text(text) -%}{{ return(adapter.dispatch('quoted_text')(text)) }}{%- endmacro %}
{% macro default__quoted_text(text) -%}'{{ text.replace("'", "''") }}'{%- endmacro %}
{% macro spark__quoted_text(text) -%}('{{ text.replace("'", "' || chr(39) || '") }}'){%- endmacro %}

{#-
    A number rounded to `digits` decimals, exactly: Postgres drops trailing zeros (trim_scale), so equal values print
    alike; elsewhere a decimal of that scale.
-#}
{% macro decimal_rounded(value, digits) -%}{{ return(adapter.dispatch('decimal_rounded')(value, digits)) }}{%- endmacro %}
{% macro default__decimal_rounded(value, digits) -%}trim_scale(round(({{ value }})::numeric, {{ digits }})){%- endmacro %}
{% macro spark__decimal_rounded(value, digits) -%}
    cast(round(cast({{ value }} as decimal(38, 18)), {{ digits }}) as decimal(38, {{ digits }}))
{%- endmacro %}
{% macro redshift__decimal_rounded(value, digits) -%}
    round(({{ value }})::decimal(38, 18), {{ digits }})::decimal(38, {{ digits }})
{%- endmacro %}

{#-
    a ÷ b for exact numbers of many decimals (12-decimal removal effects): Spark caps a decimal quotient's scale at 6
    when its precision overflows 38 digits, so there the division is done in double precision (15 significant
    digits, rounded to 12 decimals after).
-#}
{% macro precise_ratio(numerator, denominator) -%}
    {{ return(adapter.dispatch('precise_ratio')(numerator, denominator)) }}
{%- endmacro %}
{% macro default__precise_ratio(numerator, denominator) -%}{{ numerator }} / {{ denominator }}{%- endmacro %}
{% macro spark__precise_ratio(numerator, denominator) -%}
    cast({{ numerator }} as double) / cast({{ denominator }} as double)
{%- endmacro %}
