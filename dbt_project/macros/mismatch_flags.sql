{#-
    The reconciliation marts have one boolean flag column per mismatch code of their grain, named after
    the code in lower case. The codes and their descriptions are defined once, in seeds/mismatch_codes.csv,
    so the marts' YAML does not list the flag columns: describe_mismatch_flags() (a post-hook of each
    mart) writes each code's description as its column's comment, as persist_docs does for the columns
    the YAML documents, and the generic test mismatch_flags_not_null checks that every flag is true or
    false on every row.
-#}

{#- [[flag column, description]] for the codes of `grain`, from the seed's table; [] while dbt parses -#}
{% macro mismatch_flags(grain) %}
    {%- set seed = ref('mismatch_codes') -%}
    {%- if not execute %}{{ return([]) }}{% endif -%}
    {%- set found = run_query(
        "select lower(code), code || ': ' || description from " ~ seed ~ " where grain = '" ~ grain ~ "'"
        ~ " order by code"
    ) -%}
    {%- if not found.rows -%}
        {#- a mistyped grain would describe nothing and test nothing, and pass -#}
        {{ exceptions.raise_compiler_error("seed mismatch_codes has no code of grain '" ~ grain ~ "'") }}
    {%- endif -%}
    {%- set flags = [] -%}
    {%- for row in found.rows %}{% do flags.append([row[0], row[1]]) %}{% endfor -%}
    {{ return(flags) }}
{% endmacro %}

{#- post-hook: the flag columns' comments, from the seed -#}
{% macro describe_mismatch_flags(grain) %}
    {%- for flag, description in mismatch_flags(grain) %}
        comment on column {{ this }}.{{ adapter.quote(flag) }} is '{{ description | replace("'", "''") }}';
    {%- endfor %}
{% endmacro %}

{% test mismatch_flags_not_null(model, grain) %}
    {%- set flags = mismatch_flags(grain) %}
    select *
    from {{ model }}
    where
        {%- for flag, _ in flags %}
            {{ adapter.quote(flag) }} is null or
        {%- endfor %}
        false
{% endtest %}
