{#-
    Incremental staging. Each staging model that reads a raw table is an incremental table holding, per
    raw record, the rows its latest version as of var('as_of') gives. A run recomputes only the records
    that can have changed since that model's previous run, and deletes their old rows first (a record may
    now give fewer rows than before: an order that lost a line, a shipment without labels).

    A record can have changed when one of its versions
      * was extracted after the previous run's high-water mark of `extracted_at` (new versions, late
        ones included: a version whose update time is older than the previous as-of still counts), or
      * has an update time between the previous as-of and this one, in either direction (as-of moved
        forward: newer versions become current; backwards, for a backfill: they stop being current), or
      * was deleted from raw since the previous run (raw keeps every version and shipshape never deletes
        from it, but an operator may: every delete is journaled in raw._deletions by triggers the
        warehouse bootstrap installs, shipshape.warehouse.bootstrap).

    The records a run restages are kept in ops.dbt_model_scope (model -> key; a null key: every row,
    after a full build), which the model's tests read to check only those rows (macros/test_scope.sql).

    Change log. What downstream models need to recompute is told by the keys the restaged rows carry, as
    they were before (the rows deleted) and after (the rows inserted): config meta `change_keys` lists
    [grain, SQL expression over the model's columns] pairs, e.g. ['payment', "'stripe:' || payment_intent_id"]
    (the grains are int_reconcile_changes's),
    and both images of every restaged row are appended to ops.dbt_changed_keys. A full build logs one
    row of grain 'all'. int_reconcile_changes consumes the log (macros/reconcile_scope.sql).

    State: ops.dbt_incremental_state, one row per model: the as-of and the `extracted_at` high-water
    mark its rows are current for, and the last raw._deletions entry it has seen. The mark is read once,
    at the start of the model's transaction (transaction-local setting), and only versions extracted up to
    it count as seen, so a load that commits while the model runs is picked up by the next run. Pre-hook,
    model and post-hook are one transaction: a failed run leaves table, state, scope and log as they
    were. `--full-refresh` rebuilds everything.

    Each incremental staging model names the column that holds its raw record's source_id in
    config meta `raw_key`. docs/incremental.md follows one change through all of this; docs/DECISIONLOG.md
    says why it is built so.
-#}

{#- The bookkeeping lives in `ops`, the warehouse's schema for the pipeline's own state (extraction
    cursors, quarantine acknowledgements, correction log), not beside the models it describes. -#}
{% macro incremental_state_schema() -%}
    ops
{%- endmacro %}

{% macro incremental_state_relation() -%}
    {{ incremental_state_schema() }}.dbt_incremental_state
{%- endmacro %}

{% macro model_scope_relation() -%}
    {{ incremental_state_schema() }}.dbt_model_scope
{%- endmacro %}

{% macro change_log_relation() -%}
    {{ incremental_state_schema() }}.dbt_changed_keys
{%- endmacro %}

{% macro change_batches_sequence() -%}
    {{ incremental_state_schema() }}.dbt_change_batches
{%- endmacro %}

{#- on-run-start: the warehouse bootstrap (shipshape.warehouse.bootstrap: `shipshape warehouse up`, `make up`,
    the demo) creates the bookkeeping and the deletion journal; a run against a warehouse without them
    stops here, naming what is missing, before any model writes. -#}
{% macro require_incremental_state() %}
    do $$
    declare
        missing text;
    begin
        select string_agg(needed, ', ') into missing
        from unnest(array[
            '{{ incremental_state_relation() }}', '{{ model_scope_relation() }}',
            '{{ change_log_relation() }}', '{{ change_batches_sequence() }}', 'raw._deletions'
        ]) as needed
        where to_regclass(needed) is null;
        if missing is not null then
            raise exception 'the warehouse has no % (made by its bootstrap): run `shipshape warehouse up`', missing;
        end if;
    end
    $$
{% endmacro %}

{#- the settings a model's marks are kept in for its transaction (hooks are per model) -#}
{% macro _mark_setting() -%}
    'shipshape.mark_{{ this.identifier }}'
{%- endmacro %}

{% macro _deletions_setting() -%}
    'shipshape.deletions_{{ this.identifier }}'
{%- endmacro %}

{#- the model's previous state column `column` (null before its first incremental run) -#}
{% macro _previous_state(column) -%}
    (
        select state.{{ column }}
        from {{ incremental_state_relation() }} as state
        where state.model = '{{ this.identifier }}'
    )
{%- endmacro %}

{#- the change log rows (grain, key) of one image of the rows of `relation` (an alias or a table) -#}
{% macro _log_change_keys(relation, where='true') -%}
    {%- set change_keys = config.get('meta', {}).get('change_keys', []) -%}
    {%- if change_keys %}
        insert into {{ change_log_relation() }} (grain, key)
        select distinct changed.grain, changed.key
        from {{ relation }} as staged
        cross join lateral (
            values
            {%- for grain, expr in change_keys %}
                ('{{ grain }}', ({{ expr }})::text){{ ',' if not loop.last }}
            {%- endfor %}
        ) as changed (grain, key)
        where ({{ where }}) and changed.key is not null;
    {%- endif %}
{%- endmacro %}

{#- pre-hook: read the mark, record the records this run restages, log and delete their rows -#}
{% macro staging_forget_changed() %}
    {%- if not execute or model.config.materialized != 'incremental' -%}{{ return('') }}{%- endif -%}
    {%- set table = model.sources[0][1] -%}
    {%- set source_name = model.sources[0][0] -%}
    {%- set key = config.get('meta', {}).get('raw_key') -%}
    select set_config(
        {{ _mark_setting() }},
        coalesce((select max(extracted_at) from {{ source(source_name, table) }}), '-infinity')::text,
        true
    );
    select set_config(
        {{ _deletions_setting() }},
        coalesce((select max(deletion_id) from raw._deletions), 0)::text,
        true
    );
    delete from {{ model_scope_relation() }} where model = '{{ this.identifier }}';
    {% if is_incremental() %}
        {%- set deletions -%}
            from raw._deletions as deletions
            where
                deletions.raw_table = '{{ table }}'
                and deletions.deletion_id > coalesce({{ _previous_state('deletions_through') }}, 0)
                and deletions.deletion_id <= current_setting({{ _deletions_setting() }})::bigint
        {%- endset %}
        insert into {{ model_scope_relation() }} (model, key)
        {{ changed_source_ids(source_name, table) }}
        union
        -- records deleted from raw since the previous run whose every version is gone
        select '{{ this.identifier }}', staged.{{ key }}
        from {{ this }} as staged
        where
            -- (uncorrelated: the table is not even read when nothing was deleted)
            exists (select {{ deletions }})
            and (
                staged.{{ key }} in (select deletions.source_id {{ deletions }})
                or exists (select {{ deletions }} and deletions.source_id is null)
            )
            and not exists (
                select from {{ source(source_name, table) }} as raw_versions
                where raw_versions.source_id = staged.{{ key }}
            );
        create temporary table dbt_replaced_rows on commit drop as
        with replaced as (
            delete from {{ this }} as staged
            where staged.{{ key }} in (
                select scope.key from {{ model_scope_relation() }} as scope
                where scope.model = '{{ this.identifier }}'
            )
            returning staged.*
        )
        select * from replaced;
        {{ _log_change_keys('dbt_replaced_rows') }}
    {% else %}
        insert into {{ model_scope_relation() }} (model, key) values ('{{ this.identifier }}', null);
    {% endif %}
{% endmacro %}

{#- post-hook: log the rows inserted, and this model's rows are now current as of var('as_of') and up
    to the mark -#}
{% macro staging_remember_state() %}
    {%- if not execute or model.config.materialized != 'incremental' -%}{{ return('') }}{%- endif %}
    {%- set key = config.get('meta', {}).get('raw_key') -%}
    {% if is_incremental() %}
        {{ _log_change_keys(this, 'staged.' ~ key ~ " in (select scope.key from " ~ model_scope_relation()
            ~ " as scope where scope.model = '" ~ this.identifier ~ "')") }}
    {% elif config.get('meta', {}).get('change_keys') %}
        insert into {{ change_log_relation() }} (grain, key) values ('all', null);
    {% endif %}
    insert into {{ incremental_state_relation() }} (model, as_of, extracted_through, deletions_through)
    values (
        '{{ this.identifier }}',
        {{ as_of() }},
        current_setting({{ _mark_setting() }})::timestamptz,
        current_setting({{ _deletions_setting() }})::bigint
    )
    on conflict (model) do update
    set as_of = excluded.as_of, extracted_through = excluded.extracted_through,
        deletions_through = excluded.deletions_through;
    {% if not is_incremental() %}{{ index_scope_key(key) }}{% endif %}
{% endmacro %}

{#- the source_ids of one raw table whose current version can differ from the previous run's, as rows
    (this model's name, source_id) -#}
{% macro changed_source_ids(source_name, table) -%}
    select distinct '{{ this.identifier }}', raw_versions.source_id
    from {{ source(source_name, table) }} as raw_versions
    where
        raw_versions.extracted_at <= current_setting({{ _mark_setting() }})::timestamptz
        and (
            raw_versions.extracted_at > coalesce({{ _previous_state('extracted_through') }}, '-infinity')
            or (
                raw_versions.source_updated_at > least({{ _previous_state('as_of') }}, {{ as_of() }})
                and raw_versions.source_updated_at <= greatest({{ _previous_state('as_of') }}, {{ as_of() }})
            )
        )
{%- endmacro %}
