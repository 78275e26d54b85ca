{#-
    Contracts on Spark: the models' YAML declares Postgres types (text, timestamptz, numeric, uuid...), which Spark
    cannot cast to. The same promise is checked: the same columns, in any order, each of the declared type's
    Spark counterpart.
-#}
{% macro spark__get_assert_columns_equivalent(sql) -%}
    {%- set spark_types = {
        'text': 'string', 'uuid': 'string', 'jsonb': 'string', 'integer': 'int', 'bigint': 'bigint',
        'boolean': 'boolean', 'date': 'date', 'timestamptz': 'timestamp', 'numeric': 'decimal',
        'text[]': 'array<string>', 'float8': 'double', 'double precision': 'double'
    } -%}
    {%- set declared = model['columns'].values() | list -%}
    {%- set built = {} -%}
    {%- for column in get_column_schema_from_query(sql) -%}
        {%- do built.update({column.name | lower: column.dtype | lower}) -%}
    {%- endfor -%}
    {%- set wrong = [] -%}
    {%- for column in declared -%}
        {%- set expected = spark_types.get(column.data_type | lower, column.data_type | lower) -%}
        {%- set found = built.get(column.name | lower) -%}
        {%- if found is none or not found.startswith(expected) -%}
            {%- do wrong.append(column.name ~ ' ' ~ column.data_type ~ ' (Spark ' ~ expected ~ '): built ' ~ found) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if wrong or built | length != declared | length -%}
        {{ exceptions.raise_compiler_error(
            "Contract of " ~ model.name ~ " not met on Spark: " ~ (wrong | join('; ') or 'columns ' ~ (built.keys() | list))
        ) }}
    {%- endif -%}
{%- endmacro %}

{#- Parquet tables hold no constraints (dbt-spark would ALTER them, assuming Delta): the contract check stands alone. -#}
{% macro spark__persist_constraints(relation, model) -%}{%- endmacro %}
