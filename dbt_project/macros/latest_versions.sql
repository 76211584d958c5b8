{#-
    The current state of every record of one raw table, as of var('as_of').

    Raw tables (README "Raw table contract") keep every distinct version of a record. This selects,
    per source_id, the latest version by source_updated_at desc, then extracted_at desc (the contract's
    order; payload_hash last, only so that the choice is deterministic), among the versions whose
    source_updated_at is at or before as-of. A version without an update time cannot be placed in time:
    it counts (a record is not lost for lacking a stamp) but loses to any dated version.

    The choice is made on the narrow columns, and only the chosen version's payload is read (joined back
    by the raw table's key): sorting every version with its payload spilled whole documents to disk and
    decompressed the versions that lose as well.

    Columns: source_id, source_updated_at, extracted_at, run_id, payload. In an incremental staging
    model's incremental run, only the records its pre-hook chose to restage (macros/incremental_staging.sql).
-#}
{% macro latest_versions(source_name, table) -%}
    select
        chosen.source_id,
        chosen.source_updated_at,
        chosen.extracted_at,
        chosen.run_id,
        -- a payload is a JSON object (the loader's contract), so `|| '{}'` is the same value, but
        -- detoasted once here rather than once per `->` in the models (3x faster on Shopify orders)
        raw_payloads.payload || '{}'::jsonb as payload
    from (
        select distinct on (raw_versions.source_id)
            raw_versions.source_id,
            raw_versions.source_updated_at,
            raw_versions.extracted_at,
            raw_versions.run_id,
            raw_versions.payload_hash
        from {{ source(source_name, table) }} as raw_versions
        where
            (
                raw_versions.source_updated_at is null
                or raw_versions.source_updated_at <= {{ as_of() }}
            )
            {%- if is_incremental() %}
                -- an incremental staging run: only the records it restages (incremental_staging.sql)
                and raw_versions.source_id in (
                    select scope.key from {{ model_scope_relation() }} as scope
                    where scope.model = '{{ this.identifier }}'
                )
            {%- endif %}
        order by
            raw_versions.source_id asc,
            raw_versions.source_updated_at desc nulls last,
            raw_versions.extracted_at desc,
            raw_versions.payload_hash desc
    ) as chosen
    inner join {{ source(source_name, table) }} as raw_payloads
        on
            chosen.source_id = raw_payloads.source_id
            and chosen.payload_hash = raw_payloads.payload_hash
    -- keeps this a subquery of its own: pulled up into the model, `payload` would be the expression
    -- `payload || '{}'`, detoasted again at each of the model's `->`
    -- (sqlfluff's AM09 reads an offset without an order as a gamble; this one skips nothing)
    offset 0  -- noqa: AM09
{% endmacro %}
