{#-
    The moment every model judges the data at, as a SQL timestamptz literal: the environment variable
    SHIPSHAPE_AS_OF when set (shipshape's runners set it: `shipshape.dbt.run(as_of=...)` and the reconcile
    DAG's tasks), else the var `as_of` (default in dbt_project.yml; `--vars` still works by hand, and a
    unit test's `overrides: vars: as_of` always wins, whatever the run's as-of). Models
    use this, never now() or current_timestamp, so a rerun at the same as-of gives the same answer.

    Read only when executing: at parse time dbt records every env_var() a model calls and re-parses the
    model when its value changes, and a changed var re-parses the whole project (about 4 s a run here,
    docs/benchmarks.md); the as-of changes on every run, the SQL it is rendered into never does.
-#}
{% macro as_of() -%}
    {#- a unit test's own as-of (overrides: vars: as_of) wins over the run's -#}
    {%- set unit_test = model is defined and model is mapping and model.get('resource_type') == 'unit_test' -%}
    {%- set moment = env_var('SHIPSHAPE_AS_OF', '') if execute and not unit_test else '' -%}
    {%- set moment = moment or var('as_of') -%}
    ({{ "'" ~ (moment | string | replace("'", "''")) ~ "'" }}::timestamptz)
{%- endmacro %}
