{{ config(meta={'scope': ['shiphero_order', 'shiphero_order_id', 'shiphero_claims']}) }}
{{ scope_dependencies('shiphero_order') }}
-- Every ShipHero order, linked to the Shopify order it fulfils (docs/mismatch-codes.md "Linking the
-- systems"): partner_order_id (normalised) names the Shopify order by id or name; when it names none,
-- order_number does. When several 3PL orders claim one Shopify order, one counts
-- (`is_current`): the most recently updated one that is not cancelled, else the most recently updated
-- one (the live order counts; ties go to the larger ShipHero id, as the sandbox's truth's
-- updated_at-then-id ordering does).

with

shiphero_orders as (
    select * from {{ ref('stg_shiphero__orders') }}
    where {{ in_scope('shiphero_order_id') }}
),

order_refs as (
    select * from {{ ref('int_order_refs') }}
),

linked as (
    select
        shiphero_orders.shiphero_order_id,
        shiphero_orders.updated_at,
        shiphero_orders.fulfillment_status,
        coalesce(by_partner.shopify_order_id, by_number.shopify_order_id) as shopify_order_id,
        case
            when by_partner.shopify_order_id is not null then 'partner_order_id'
            when by_number.shopify_order_id is not null then 'order_number'
            else 'none'
        end as link_method
    from shiphero_orders
    left join order_refs as by_partner
        on shiphero_orders.partner_order_ref = by_partner.order_ref
    left join order_refs as by_number
        on shiphero_orders.order_number_ref = by_number.order_ref
),

ranked as (
    select
        *,
        count(*) over (partition by shopify_order_id) as claims_on_order,
        row_number() over (
            partition by shopify_order_id
            order by
                coalesce(fulfillment_status = 'canceled', false) asc,
                updated_at desc nulls last,
                shiphero_order_id collate "C" desc
        ) as claim_rank
    from linked
)

select
    shiphero_order_id,
    shopify_order_id,
    link_method,
    case when shopify_order_id is not null then claims_on_order else 0 end as claims_on_order,
    shopify_order_id is not null and claim_rank = 1 as is_current
from ranked
