{#-
    Models and seeds go to the schema they name (`+schema: staging` -> `staging`), exactly as SPEC.md's
    warehouse layout says, instead of dbt's default `<target schema>_<custom schema>`. A node without
    a custom schema falls back to the target's schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
