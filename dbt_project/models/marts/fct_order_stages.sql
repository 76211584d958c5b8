{{ config(indexes=[{'columns': ['current_stage', 'is_stuck']}]) }}

-- One row per Shopify order: where it is between placed and delivered (docs/mismatch-codes.md "Statuses"), the
-- hours each finished stage took, and whether it has waited in its current stage longer than that stage
-- allows, as of var('as_of'). What the console's "Processing vs fulfillment" page reads. The allowances:
-- placed -> sent to the 3PL, missing_in_3pl_grace_hours (only for an order that needs shipping and is good
-- enough to ship: one waiting on its payment is not stuck in processing); sent -> shipped, ship_sla_hours;
-- shipped -> delivered, delivery_sla_hours.

with

orders as (
    select * from {{ ref('fct_order_reconciliation') }}
),

facts as (
    select * from {{ ref('int_order_facts') }}
),

staged as (
    select
        orders.shopify_order_id,
        orders.order_name,
        orders.order_status,
        orders.payment_status,
        orders.fulfillment_status,
        orders.shipping_status,
        orders.placed_at,
        orders.sent_to_3pl_at,
        orders.shipped_at,
        orders.delivered_at,
        orders.cancelled_at,
        coalesce(facts.needs_shipping, false) as needs_shipping,
        (
            orders.payment_status in ('paid', 'partially_refunded')
            or (orders.payment_status = 'authorized' and {{ var('ship_on_authorization') }})
        ) as good_to_ship,
        case
            when orders.cancelled_at is not null then 'cancelled'
            when orders.delivered_at is not null then 'delivered'
            when orders.shipped_at is not null then 'shipped'
            when orders.sent_to_3pl_at is not null then 'sent_to_3pl'
            else 'placed'
        end as current_stage
    from orders
    left join facts
        on orders.shopify_order_id = facts.shopify_order_id
),

timed as (
    select
        *,
        case current_stage
            when 'cancelled' then cancelled_at
            when 'delivered' then delivered_at
            when 'shipped' then shipped_at
            when 'sent_to_3pl' then sent_to_3pl_at
            else placed_at
        end as stage_started_at,
        case current_stage
            when 'placed' then {{ var('missing_in_3pl_grace_hours') }}
            when 'sent_to_3pl' then {{ var('ship_sla_hours') }}
            when 'shipped' then {{ var('delivery_sla_hours') }}
        end as stage_sla_hours
    from staged
)

select
    shopify_order_id,
    order_name,
    order_status,
    payment_status,
    fulfillment_status,
    shipping_status,
    placed_at,
    sent_to_3pl_at,
    shipped_at,
    delivered_at,
    cancelled_at,
    (extract(epoch from sent_to_3pl_at - placed_at) / 3600)::double precision as placed_to_sent_hours,
    (extract(epoch from shipped_at - sent_to_3pl_at) / 3600)::double precision as sent_to_shipped_hours,
    (extract(epoch from delivered_at - shipped_at) / 3600)::double precision as shipped_to_delivered_hours,
    current_stage,
    stage_started_at,
    (extract(epoch from {{ as_of() }} - stage_started_at) / 3600)::double precision as hours_in_stage,
    stage_sla_hours,
    coalesce(
        stage_sla_hours is not null
        and {{ as_of() }} - stage_started_at >= make_interval(hours => stage_sla_hours)
        and (current_stage <> 'placed' or (needs_shipping and good_to_ship)),
        false
    ) as is_stuck,
    {{ as_of() }} as as_of
from timed
