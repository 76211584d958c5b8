{#-
    Incremental staging. Each staging model that reads a raw table is an incremental table holding, per
    raw record, the rows its latest version as of var('as_of') gives. A run recomputes only the records
    that can have changed since that model's previous run, and deletes their old rows first (a record may
    now give fewer rows than before: an order that lost a line, a shipment without labels).

    A record can have changed when one of its versions
      * was extracted after the previous run's high-water mark of `extracted_at` (new versions, late
        ones included: a version whose update time is older than the previous as-of still counts), or
      * has an update time between the previous as-of and this one, in either direction (as-of moved
        forward: newer versions become current; backwards, for a backfill: they stop being current).
    Records whose every version left raw are deleted as well (raw keeps every version, but an operator
    may remove a record by hand).

    State: staging.dbt_incremental_state, one row per model: the as-of and the `extracted_at` high-water
    mark its rows are current for. The mark is read once, at the start of the model's transaction
    (transaction-local setting), and only versions extracted up to it count as seen, so a load that
    commits while the model runs is picked up by the next run. Pre-hook, model and post-hook are one
    transaction: a failed run leaves table and state as they were. `--full-refresh` rebuilds everything.

    Each incremental staging model names the column that holds its raw record's source_id in
    config meta `raw_key`.
-#}

{% macro incremental_state_relation() -%}
    {{ target.schema }}.dbt_incremental_state
{%- endmacro %}

{#- on-run-start: the state table -#}
{% macro create_incremental_state() %}
    {#- Cosmos runs each model as its own dbt invocation, so several can get here at once on a first run:
        two concurrent `create ... if not exists` can still collide in the catalog, and losing that race
        is fine -#}
    do $$
    begin
        create schema if not exists {{ target.schema }};
        create table if not exists {{ incremental_state_relation() }} (
            model text primary key,
            as_of timestamptz not null,
            extracted_through timestamptz
        );
    exception when unique_violation or duplicate_table or duplicate_schema then
        null;
    end
    $$
{% endmacro %}

{#- the setting the mark is kept in for the model's transaction (one per model: hooks are per model) -#}
{% macro _mark_setting() -%}
    'shipshape.mark_{{ this.identifier }}'
{%- endmacro %}

{#- pre-hook: create the state table, read the mark, forget the changed and the vanished records -#}
{% macro staging_forget_changed() %}
    {%- if not execute or model.config.materialized != 'incremental' -%}{{ return('') }}{%- endif -%}
    {%- set table = model.sources[0][1] -%}
    {%- set source_name = model.sources[0][0] -%}
    select set_config(
        {{ _mark_setting() }},
        coalesce((select max(extracted_at) from {{ source(source_name, table) }}), '-infinity')::text,
        true
    );
    {% if is_incremental() %}
        {%- set key = config.get('meta', {}).get('raw_key') -%}
        delete from {{ this }} as staged
        where staged.{{ key }} in ({{ changed_source_ids(source_name, table) }});
        delete from {{ this }} as staged
        where not exists (
            select from {{ source(source_name, table) }} as raw_versions
            where raw_versions.source_id = staged.{{ key }}
        );
    {% endif %}
{% endmacro %}

{#- post-hook: this model's rows are now current as of var('as_of') and up to the mark -#}
{% macro staging_remember_state() %}
    {%- if not execute or model.config.materialized != 'incremental' -%}{{ return('') }}{%- endif %}
    insert into {{ incremental_state_relation() }} (model, as_of, extracted_through)
    values ('{{ this.identifier }}', {{ as_of() }}, current_setting({{ _mark_setting() }})::timestamptz)
    on conflict (model) do update
    set as_of = excluded.as_of, extracted_through = excluded.extracted_through;
    {#- a fresh table has no statistics yet, and the views downstream join it: without them the planner
        guesses a handful of rows and picks nested loops. An incremental run changes ~1 % (autovacuum's). #}
    {% if not is_incremental() %}analyze {{ this }}{% endif %}
{% endmacro %}

{#- the source_ids of one raw table whose current version can differ from the previous run's -#}
{% macro changed_source_ids(source_name, table) -%}
    {%- set previous = "(select {} from " ~ incremental_state_relation() ~ " where model = '" ~ this.identifier ~ "')" -%}
    select distinct raw_versions.source_id
    from {{ source(source_name, table) }} as raw_versions
    where
        raw_versions.extracted_at <= current_setting({{ _mark_setting() }})::timestamptz
        and (
            raw_versions.extracted_at > coalesce({{ previous.format('extracted_through') }}, '-infinity')
            or (
                raw_versions.source_updated_at > least({{ previous.format('as_of') }}, {{ as_of() }})
                and raw_versions.source_updated_at <= greatest({{ previous.format('as_of') }}, {{ as_of() }})
            )
        )
{%- endmacro %}
