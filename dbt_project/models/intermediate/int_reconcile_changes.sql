{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ reconcile_changes_begin() }}",
        post_hook="{{ reconcile_changes_end() }}",
    )
}}
{#- Not a ref: the links as the previous run left them (this model runs before they are rebuilt). -#}
{%- set previous_payment_links = adapter.get_relation(this.database, 'intermediate', 'int_payment_links')
    if execute and is_incremental() else none -%}
{%- set previous_shiphero_links = adapter.get_relation(this.database, 'intermediate', 'int_shiphero_order_links')
    if execute and is_incremental() else none -%}
{%- set hours = "interval '1 hour' * " -%}

-- The keys the intermediate tables recompute in this run, one batch per run (macros/reconcile_scope.sql):
-- what staging restaged since the previous run (ops.dbt_changed_keys, both the old and the new rows'
-- keys), followed to every key that can depend on it, plus the orders whose time rules can have turned
-- between the previous as-of and this one. A full build, a first run, a changed tolerance or seed, or a
-- staging table rebuilt from scratch: one row of grain `all`.
-- depends_on: {{ ref('stg_shopify__orders') }} {{ ref('stg_shopify__transactions') }}
-- depends_on: {{ ref('stg_shopify__order_lines') }} {{ ref('stg_shopify__fulfillment_trackings') }}
-- depends_on: {{ ref('stg_stripe__payment_intents') }} {{ ref('stg_stripe__charges') }}
-- depends_on: {{ ref('stg_stripe__refunds') }} {{ ref('stg_paypal__transactions') }}
-- depends_on: {{ ref('stg_paypal__trackers') }} {{ ref('stg_shiphero__orders') }}
-- depends_on: {{ ref('stg_shiphero__order_lines') }} {{ ref('stg_shiphero__shipments') }}
-- depends_on: {{ ref('stg_shiphero__shipping_labels') }} {{ ref('stg_tracking__trackers') }}
-- depends_on: {{ ref('shipping_method_map') }} {{ ref('carrier_map') }}
-- depends_on: {{ ref('mismatch_codes') }}

{% if is_incremental() %}

    with

    change_log as (
        select distinct
            grain,
            key
        from {{ change_log_relation() }}
        where log_id <= current_setting('shipshape.change_log_mark')::bigint
    ),

    previous_run as (
        select
            as_of,
            fingerprint
        from {{ incremental_state_relation() }}
        where model = '{{ this.identifier }}'
    ),

    everything as (
        select from change_log where grain = 'all'
        union all
        select from previous_run where fingerprint is distinct from {{ settings_fingerprint() }}
        union all
        select where not exists (select from previous_run)
        {%- if previous_payment_links is none or previous_shiphero_links is none %}
            union all
            -- the links the changed records had before are unknown
            select
        {%- endif %}
    ),

    order_refs as (
        select key from change_log where grain = 'order_ref'
    ),

    tracking_numbers as (
        select key from change_log where grain = 'tracking_number'
    ),

    -- shipments whose labels carry a tracking number whose tracker changed
    shipments as (
        select key from change_log where grain = 'shipment'
        union
        select labels.shipment_id
        from {{ ref('stg_shiphero__shipping_labels') }} as labels
        where labels.tracking_number in (select key from tracking_numbers)
    ),

    -- ShipHero orders that changed, whose shipments changed, or that name a changed reference
    shiphero_orders as (
        select key from change_log where grain = 'shiphero_order'
        union
        select shipments_.shiphero_order_id
        from {{ ref('stg_shiphero__shipments') }} as shipments_
        where shipments_.shipment_id in (select key from shipments)
        union
        select shiphero_orders_.shiphero_order_id
        from {{ ref('stg_shiphero__orders') }} as shiphero_orders_
        where
            shiphero_orders_.partner_order_ref in (select key from order_refs)
            or shiphero_orders_.order_number_ref in (select key from order_refs)
    ),

    -- payments that changed, whose charges were refunded, that a changed Shopify transaction names, or
    -- whose metadata / invoice names a changed reference
    payments as (
        select key from change_log where grain = 'payment'
        union
        select 'stripe:' || charges.payment_intent_id
        from {{ ref('stg_stripe__charges') }} as charges
        where
            charges.charge_id in (select key from change_log where grain = 'stripe_charge')
            and charges.payment_intent_id is not null
        union
        select 'stripe:' || intents.payment_intent_id
        from {{ ref('stg_stripe__payment_intents') }} as intents
        where
            'stripe:' || intents.payment_intent_id_norm in (
                select key from change_log where grain = 'payment_reference'
            )
            or intents.metadata_order_ref in (select key from order_refs)
        union
        select 'paypal:' || captures.transaction_id
        from {{ ref('stg_paypal__transactions') }} as captures
        where
            captures.is_capture
            and (
                'paypal:' || captures.transaction_id_norm in (
                    select key from change_log where grain = 'payment_reference'
                )
                or captures.invoice_order_ref in (select key from order_refs)
            )
    ),

    -- the orders those payments and ShipHero orders were linked to after the previous run
    previous_links as (
        {%- if previous_payment_links is not none and previous_shiphero_links is not none %}
            select links.shopify_order_id
            from {{ previous_payment_links }} as links
            where links.gateway || ':' || links.payment_id in (select key from payments)
            union
            select links.shopify_order_id
            from {{ previous_shiphero_links }} as links
            where links.shiphero_order_id in (select key from shiphero_orders)
        {%- else %}
            select null::bigint as shopify_order_id
        {%- endif %}
    ),

    -- orders whose rules read as-of and can have turned between the two as-ofs (either way: a backfill
    -- moves it back): placed within the grace or the SLA, cancelled, or a PayPal movement within the
    -- publishing lag (fct_order_reconciliation)
    as_of_moved as (
        select
            least(as_of, {{ as_of() }}) as earlier,
            greatest(as_of, {{ as_of() }}) as later
        from previous_run
        where as_of != {{ as_of() }}
    ),

    turned as (
        select orders_.shopify_order_id
        from {{ ref('stg_shopify__orders') }} as orders_
        cross join as_of_moved
        where
            (
                orders_.created_at > as_of_moved.earlier - {{ hours }}{{ var('missing_in_3pl_grace_hours') }}
                and orders_.created_at <= as_of_moved.later - {{ hours }}{{ var('missing_in_3pl_grace_hours') }}
            )
            or (
                orders_.created_at > as_of_moved.earlier - {{ hours }}{{ var('ship_sla_hours') }}
                and orders_.created_at <= as_of_moved.later - {{ hours }}{{ var('ship_sla_hours') }}
            )
            or (orders_.cancelled_at > as_of_moved.earlier and orders_.cancelled_at <= as_of_moved.later)
        union
        select transactions.shopify_order_id
        from {{ ref('stg_shopify__transactions') }} as transactions
        cross join as_of_moved
        where
            transactions.gateway = 'paypal'
            and coalesce(transactions.processed_at, transactions.created_at)
            > as_of_moved.earlier - {{ hours }}{{ var('paypal_publish_lag_hours') }}
            and coalesce(transactions.processed_at, transactions.created_at)
            <= as_of_moved.later - {{ hours }}{{ var('paypal_publish_lag_hours') }}
    ),

    shopify_orders as (
        select key from change_log where grain = 'shopify_order'
        union
        select shopify_order_id::text from turned
        union
        select shopify_order_id::text from previous_links where shopify_order_id is not null
    ),

    changes as (
        select
            'all' as grain,
            null::text as entity_key
        where exists (select from everything)
        union all
        select
            keyed.grain,
            keyed.key as entity_key
        from (
            select 'shopify_order' as grain, key from shopify_orders
            union all
            select 'order_ref' as grain, key from order_refs
            union all
            select 'payment' as grain, key from payments
            union all
            select 'shiphero_order' as grain, key from shiphero_orders
            union all
            select 'shipment' as grain, key from shipments
            union all
            select 'tracking_number' as grain, key from tracking_numbers
        ) as keyed
        where keyed.key is not null and not exists (select from everything)
    )

{% else %}

    with

    changes as (
        select
            'all' as grain,
            null::text as entity_key
    )

{% endif %}

select
    current_setting('shipshape.change_batch')::bigint as batch,
    grain,
    entity_key
from changes
