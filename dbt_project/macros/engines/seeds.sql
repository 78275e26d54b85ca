{#-
    Spark seeds: dbt-spark's session method pastes bound values into the SQL unescaped, so "Can't lose them"
    breaks the insert. Values are written as literals here, a quote spelled chr(39).
-#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set sql -%}
        insert into {{ this.render() }} values
        {% for row in agate_table.rows -%}
            ({%- for value in row -%}
                {%- set column = agate_table.column_names[loop.index0] -%}
                {%- set type = column_override.get(column, adapter.convert_type(agate_table, loop.index0)) -%}
                {%- if value is none -%}
                    cast(null as {{ type }})
                {%- else -%}
                    cast('{{ (value | string).replace("'", "' || chr(39) || '") }}' as {{ type }})
                {%- endif -%}
                {{- ', ' if not loop.last -}}
            {%- endfor -%}){{ ',' if not loop.last }}
        {% endfor %}
    {%- endset -%}
    {% do adapter.add_query(sql, abridge_sql_log=True) %}
    {{ return(sql) }}
{% endmacro %}
