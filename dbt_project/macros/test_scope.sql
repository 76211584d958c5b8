{#-
    Data tests check what the last run of their model wrote, not the whole table again.

    An incremental model records the keys its latest run recomputed in ops.dbt_model_scope (a null
    key: it rebuilt everything, as a full build does). Rows it did not recompute are the rows an earlier
    run wrote and its tests passed, so a test of the recomputed rows says the same as a test of the table:
      not_null, accepted_values, mismatch_flags_not_null
                                  the recomputed rows only;
      unique, unique_combination_of_columns
                                  every row sharing a value with a recomputed row (a new row may repeat
                                  an old one's value);
      relationships               the whole table: a parent can disappear while its children stay.
    Models find their keys through config meta: `raw_key` (incremental staging), `scope` (intermediate
    tables, macros/reconcile_scope.sql), or `test_scope: [[model, key expression], ...]` for a view over
    such tables (its rows are recomputed when one of those models recomputes the key).

    This overrides dbt's get_where_subquery, which wraps the model of every generic test; a test's own
    `where` config still applies.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set recomputed = _recomputed_rows_filter(relation) -%}
    {%- set conditions = [] -%}
    {%- if where %}{% do conditions.append('(' ~ where ~ ')') %}{% endif -%}
    {%- if recomputed %}{% do conditions.append(recomputed) %}{% endif -%}
    {%- if conditions -%}
        (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#- the scopes (model, key expression) whose recomputed keys name the rows of `relation` (a model of
    this project: its relation is named after it) -#}
{% macro _relation_scopes(relation) -%}
    {%- set scopes = [] -%}
    {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ relation.identifier) -%}
    {%- if node and node.schema == relation.schema -%}
        {%- set meta = node.config.get('meta', {}) -%}
        {%- if node.config.materialized == 'incremental' and meta.get('raw_key') -%}
            {%- do scopes.append([node.name, meta['raw_key']]) -%}
        {%- elif node.config.materialized == 'incremental' and meta.get('scope') -%}
            {%- do scopes.append([node.name, meta['scope'][1]]) -%}
        {%- endif -%}
        {%- for scope in meta.get('test_scope', []) -%}
            {%- do scopes.append(scope) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(scopes) }}
{%- endmacro %}

{#- a condition on the rows of `relation` the last runs recomputed ('' when the test reads all rows, as
    after a full build: a query tells when the test compiles, which is after its model has run). The
    condition is a plain `key in (...)`, which Postgres answers from the index each table built whole
    gets on its scope key (index_scope_key); under an `or` with the full-build term it read the whole
    table for every test. -#}
{% macro _recomputed_rows_filter(relation) -%}
    {%- if not execute or model.resource_type != 'test' or not model.get('test_metadata') -%}
        {{ return('') }}
    {%- endif -%}
    {%- set test_name = model.test_metadata.name -%}
    {%- if test_name not in ['not_null', 'accepted_values', 'mismatch_flags_not_null', 'unique',
                              'unique_combination_of_columns'] -%}
        {{ return('') }}
    {%- endif -%}
    {%- set scopes = _relation_scopes(relation) -%}
    {%- if not scopes -%}{{ return('') }}{%- endif -%}
    {%- set rebuilt_query -%}
        select exists (
            select from {{ model_scope_relation() }} as scope
            where scope.model in ('{{ scopes | map('first') | unique | join("', '") }}') and scope.key is null
        )
    {%- endset -%}
    {%- if run_query(rebuilt_query).columns[0].values()[0] -%}{{ return('') }}{%- endif -%}
    {%- set keyed = [] -%}
    {%- for scope_model, key in scopes -%}
        {%- do keyed.append("(" ~ key ~ ")::text in (select scope.key from " ~ model_scope_relation()
            ~ " as scope where scope.model = '" ~ scope_model ~ "')") -%}
    {%- endfor -%}
    {%- set recomputed = '(' ~ keyed | join(' or ') ~ ')' -%}
    {%- set kwargs = model.test_metadata.kwargs -%}
    {%- if test_name == 'unique' and [kwargs.column_name] != (scopes | map('last') | list | unique | list) -%}
        {%- set columns = [kwargs.column_name] -%}
    {%- elif test_name == 'unique_combination_of_columns' -%}
        {%- set columns = kwargs.columns -%}
    {%- else -%}
        {%- set columns = none -%}
    {%- endif -%}
    {%- if columns -%}
        {#- a value a recomputed row holds, in every row that holds it -#}
        {%- set recomputed = '(' ~ columns | join(', ') ~ ') in (select ' ~ columns | join(', ') ~ ' from '
            ~ relation ~ ' where ' ~ recomputed ~ ')' -%}
    {%- endif -%}
    {{ return(recomputed) }}
{%- endmacro %}
