{{
    config(
        materialized='incremental',
        unique_key='episode_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns'
    )
}}

-- When each mismatch was first seen and when it was resolved, kept across runs: one row per episode of
-- a code on an entity (an order, a payment, a SKU). Each run at var('as_of') (the reconcile DAG's data
-- interval end) compares the codes judged now with the episodes still open:
--   still judged   -> the open episode is seen again (last_seen_at, severity and money refreshed);
--   no longer      -> the open episode is resolved at as_of;
--   new            -> a new episode opens at as_of.
-- A code that comes back after being resolved opens a new episode. A rerun at the same as-of changes
-- nothing; a run at an as-of before the latest one already recorded (an out-of-order backfill) leaves
-- the history as it is, so backfill in date order. `dbt build --full-refresh` restarts the history.

with

orders as (
    select * from {{ ref('fct_order_reconciliation') }}
),

payments as (
    select * from {{ ref('fct_payment_reconciliation') }}
),

inventory as (
    select * from {{ ref('fct_inventory_reconciliation') }}
),

-- the codes judged at as_of, one row per (entity, code)
judged_codes as (
    select
        'order' as entity_type,
        orders.shopify_order_id::text as entity_id,
        orders.shopify_order_id,
        orders.order_name,
        codes.code,
        orders.currency,
        orders.amount_at_risk
    from orders
    cross join lateral unnest(orders.mismatch_codes) as codes (code)
    union all
    select
        'payment' as entity_type,
        payments.gateway || ':' || payments.payment_id as entity_id,
        null::bigint as shopify_order_id,
        null::text as order_name,
        'ORPHAN_PAYMENT' as code,
        payments.currency,
        0::numeric as amount_at_risk
    from payments
    where payments.orphan_payment
    union all
    select
        'sku' as entity_type,
        inventory.sku as entity_id,
        null::bigint as shopify_order_id,
        null::text as order_name,
        'INVENTORY_MISMATCH' as code,
        null::text as currency,
        0::numeric as amount_at_risk
    from inventory
    where inventory.inventory_mismatch
),

-- each with its severity (the seed's; a code missing there fails the severity's not_null test)
current_codes as (
    select
        judged_codes.entity_type,
        judged_codes.entity_id,
        judged_codes.shopify_order_id,
        judged_codes.order_name,
        judged_codes.code,
        definitions.severity,
        judged_codes.currency,
        judged_codes.amount_at_risk
    from judged_codes
    left join {{ ref('mismatch_codes') }} as definitions
        on judged_codes.code = definitions.code
),

{% if is_incremental() %}

    recorded as (
        select * from {{ this }}
    ),

    -- the latest as-of already recorded; runs before it leave the history alone
    last_run as (
        select max(greatest(last_seen_at, coalesce(resolved_at, last_seen_at))) as as_of
        from recorded
    ),

    this_run as (
        select {{ as_of() }} as as_of
        from last_run
        where last_run.as_of is null or {{ as_of() }} >= last_run.as_of
    ),

    open_episodes as (
        select * from recorded
        where resolved_at is null
    ),

    episodes as (
    -- open episodes: seen again, or resolved now
        select
            open_episodes.episode_id,
            open_episodes.entity_type,
            open_episodes.entity_id,
            open_episodes.shopify_order_id,
            coalesce(current_codes.order_name, open_episodes.order_name) as order_name,
            open_episodes.code,
            coalesce(current_codes.severity, open_episodes.severity) as severity,
            coalesce(current_codes.currency, open_episodes.currency) as currency,
            coalesce(current_codes.amount_at_risk, open_episodes.amount_at_risk) as amount_at_risk,
            open_episodes.first_seen_at,
            case when current_codes.code is not null then this_run.as_of else open_episodes.last_seen_at end
                as last_seen_at,
            case when current_codes.code is null then this_run.as_of end as resolved_at
        from open_episodes
        cross join this_run
        left join current_codes
            on
                open_episodes.entity_type = current_codes.entity_type
                and open_episodes.entity_id = current_codes.entity_id
                and open_episodes.code = current_codes.code
        union all
        -- codes with no open episode: a new one
        select
            md5(
                current_codes.entity_type || '|' || current_codes.entity_id || '|' || current_codes.code || '|'
                || extract(epoch from this_run.as_of)::text
            ) as episode_id,
            current_codes.entity_type,
            current_codes.entity_id,
            current_codes.shopify_order_id,
            current_codes.order_name,
            current_codes.code,
            current_codes.severity,
            current_codes.currency,
            current_codes.amount_at_risk,
            this_run.as_of as first_seen_at,
            this_run.as_of as last_seen_at,
            null::timestamptz as resolved_at
        from current_codes
        cross join this_run
        where not exists (
                select 1
                from open_episodes
                where
                    open_episodes.entity_type = current_codes.entity_type
                    and open_episodes.entity_id = current_codes.entity_id
                    and open_episodes.code = current_codes.code
            )
    )

{% else %}

    episodes as (
        select
            md5(
                current_codes.entity_type || '|' || current_codes.entity_id || '|' || current_codes.code || '|'
                || extract(epoch from {{ as_of() }})::text
            ) as episode_id,
            current_codes.entity_type,
            current_codes.entity_id,
            current_codes.shopify_order_id,
            current_codes.order_name,
            current_codes.code,
            current_codes.severity,
            current_codes.currency,
            current_codes.amount_at_risk,
            {{ as_of() }} as first_seen_at,
            {{ as_of() }} as last_seen_at,
            null::timestamptz as resolved_at
        from current_codes
    )

{% endif %}

select
    episode_id,
    entity_type,
    entity_id,
    shopify_order_id,
    order_name,
    code,
    severity,
    currency,
    amount_at_risk,
    first_seen_at,
    last_seen_at,
    resolved_at,
    resolved_at is null as is_open
from episodes
