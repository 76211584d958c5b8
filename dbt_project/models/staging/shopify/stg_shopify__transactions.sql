{{
    config(meta={
        'raw_key': 'order_gid',
        'change_keys': [['shopify_order', 'shopify_order_id'], ['payment_reference', "gateway || ':' || gateway_reference_norm"]],
    })
}}

-- One row per transaction of a Shopify order (its latest version as of var('as_of')), with the gateway
-- reference that links it to a Stripe PaymentIntent or a PayPal capture (docs/mismatch-codes.md "Linking
-- the systems").
with

orders as (
    {{ latest_versions('shopify', 'shopify__orders') }}
),

transactions as (
    select
        {{ shopify_legacy_id("txn.item ->> 'id'") }} as transaction_id,
        txn.item ->> 'id' as transaction_gid,
        coalesce(
            (orders.payload ->> 'legacyResourceId')::bigint,
            {{ shopify_legacy_id("orders.payload ->> 'id'") }}
        ) as shopify_order_id,
        orders.source_id as order_gid,
        txn.position,
        txn.item ->> 'kind' as kind,
        txn.item ->> 'status' as status,
        txn.item ->> 'gateway' as gateway,
        {{ decimal_amount("txn.item -> 'amountSet' -> 'shopMoney' ->> 'amount'") }} as amount,
        upper(txn.item -> 'amountSet' -> 'shopMoney' ->> 'currencyCode') as currency,
        -- The gateway's id is Shopify's authorizationCode; the gateway receipt (JSON text) repeats it as
        -- "id" (Stripe) or "transaction_id" (PayPal), read here without parsing, so a malformed receipt
        -- can never fail the model.
        coalesce(
            nullif(txn.item ->> 'authorizationCode', ''),
            substring(
                txn.item ->> 'receiptJson'
                from '"(?:id|transaction_id)"[[:space:]]*:[[:space:]]*"([^"]+)"'
            )
        ) as gateway_reference,
        txn.item ->> 'receiptJson' as receipt_json,
        {{ shopify_legacy_id("txn.item -> 'parentTransaction' ->> 'id'") }} as parent_transaction_id,
        {{ iso_timestamp("txn.item ->> 'createdAt'") }} as created_at,
        {{ iso_timestamp("txn.item ->> 'processedAt'") }} as processed_at
    from orders
    cross join
        lateral jsonb_array_elements(
            {{ json_nodes("orders.payload -> 'transactions'") }}
        ) with ordinality as txn (item, position)
)

select
    transaction_id,
    transaction_gid,
    shopify_order_id,
    order_gid,
    position,
    kind,
    status,
    gateway,
    amount,
    currency,
    gateway_reference,
    {{ normalize_payment_ref('gateway_reference') }} as gateway_reference_norm,
    receipt_json,
    parent_transaction_id,
    created_at,
    processed_at
from transactions
