{#-
    Regular expressions (patterns are SQL expressions: a quoted literal or a column). Postgres: POSIX operators;
    Spark: Java regexes, string literals read without escapes (spark.sql.parser.escapedStringLiterals), so the
    same pattern text works on both.
-#}
{% macro regex_matches(text, pattern, ignore_case=false) -%}
    {{ return(adapter.dispatch('regex_matches')(text, pattern, ignore_case)) }}
{%- endmacro %}
{% macro default__regex_matches(text, pattern, ignore_case) -%}
    {{ text }} {{ '~*' if ignore_case else '~' }} {{ pattern }}
{%- endmacro %}
{% macro spark__regex_matches(text, pattern, ignore_case) -%}
    {{ text }} rlike {{ "concat('(?i)', " ~ pattern ~ ")" if ignore_case else pattern }}
{%- endmacro %}
{% macro redshift__regex_matches(text, pattern, ignore_case) -%}
    regexp_instr({{ text }}, {{ pattern }}, 1, 1, 0, '{{ "ip" if ignore_case else "p" }}') > 0
{%- endmacro %}

{#- The first capture group of the first match; null when there is none. -#}
{% macro regex_group(text, pattern) -%}{{ return(adapter.dispatch('regex_group')(text, pattern)) }}{%- endmacro %}
{% macro default__regex_group(text, pattern) -%}
    substring({{ text }} from {{ pattern }})
{%- endmacro %}
{% macro spark__regex_group(text, pattern) -%}
    case when {{ text }} rlike {{ pattern }} then regexp_extract({{ text }}, {{ pattern }}, 1) end
{%- endmacro %}
{% macro redshift__regex_group(text, pattern) -%}
    regexp_substr({{ text }}, {{ pattern }}, 1, 1, 'pe')
{%- endmacro %}

{#- Every match replaced (`\1` in the replacement: the first group). -#}
{% macro regex_replace_all(text, pattern, replacement) -%}
    {{ return(adapter.dispatch('regex_replace_all')(text, pattern, replacement)) }}
{%- endmacro %}
{% macro default__regex_replace_all(text, pattern, replacement) -%}
    regexp_replace({{ text }}, {{ pattern }}, {{ replacement }}, 'g')
{%- endmacro %}
{% macro spark__regex_replace_all(text, pattern, replacement) -%}
    regexp_replace({{ text }}, {{ pattern }}, {{ replacement | replace('\\', '$') }})
{%- endmacro %}
{% macro redshift__regex_replace_all(text, pattern, replacement) -%}
    regexp_replace({{ text }}, {{ pattern }}, {{ replacement }}, 1, 'p')
{%- endmacro %}
