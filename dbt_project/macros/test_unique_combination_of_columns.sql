{#-
    Generic test: no two rows share the same values in `columns` (a composite key). The same contract as
    dbt_utils.unique_combination_of_columns, written here because dbt deps cannot download packages.
-#}
{% test unique_combination_of_columns(model, columns) %}
    select
        {{ columns | join(', ') }},
        count(*) as n_rows
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}
