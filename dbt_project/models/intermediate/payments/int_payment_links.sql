{{ config(meta={'scope': ['payment', "gateway || ':' || payment_id"]}) }}
{{ scope_dependencies('payment') }}
-- Every gateway payment linked to the Shopify order it pays for (docs/mismatch-codes.md "Linking the systems"):
--   1. reference: a Shopify transaction of that gateway whose gateway reference (normalised) is the
--      payment's id (PaymentIntent id, PayPal capture id). When several orders record one reference,
--      the first order (lowest id: Shopify ids grow with creation) keeps it.
--   2. metadata / invoice: Stripe metadata.shopify_order_id or the PayPal invoice_id, normalised, equal
--      to an order's id, else to an order's name (again the first such order).
--   3. none: the payment links to no order (an orphan when it captured money).

with

payments as (
    select * from {{ ref('int_payments') }}
    where {{ in_scope("gateway || ':' || payment_id") }}
),

orders as (
    select * from {{ ref('stg_shopify__orders') }}
),

order_refs as (
    select * from {{ ref('int_order_refs') }}
),

transactions as (
    select * from {{ ref('stg_shopify__transactions') }}
),

by_reference as (
    select
        transactions.gateway,
        transactions.gateway_reference_norm,
        min(transactions.shopify_order_id) as shopify_order_id
    from transactions
    inner join orders
        on transactions.shopify_order_id = orders.shopify_order_id
    where
        transactions.gateway in ('stripe', 'paypal')
        {% if is_incremental() %}
            -- only the references of the payments this run links again; a plain AND, so that the
            -- planner makes it a hash semi-join (under `not is_incremental() or ...` it stayed a subplan
            -- that scanned the scoped payments once per transaction: 45 s at 300k orders)
            and transactions.gateway_reference_norm in (select payments.payment_id_norm from payments)
        {% endif %}
        and transactions.gateway_reference_norm is not null
    group by transactions.gateway, transactions.gateway_reference_norm
)

select
    payments.gateway,
    payments.payment_id,
    coalesce(by_reference.shopify_order_id, order_refs.shopify_order_id) as shopify_order_id,
    case
        when by_reference.shopify_order_id is not null then 'reference'
        when order_refs.shopify_order_id is not null and payments.gateway = 'stripe' then 'metadata'
        when order_refs.shopify_order_id is not null then 'invoice'
        else 'none'
    end as link_method
from payments
left join by_reference
    on
        payments.gateway = by_reference.gateway
        and payments.payment_id_norm = by_reference.gateway_reference_norm
left join order_refs
    on payments.order_ref = order_refs.order_ref
