{#-
    The moment every model judges the data at: the var `as_of` (a timestamptz string; default in
    dbt_project.yml) as a SQL timestamptz literal. Models use this, never now() or current_timestamp,
    so a rerun at the same as-of gives the same answer.
-#}
{% macro as_of() -%}
    ({{ "'" ~ (var('as_of') | string | replace("'", "''")) ~ "'" }}::timestamptz)
{%- endmacro %}
