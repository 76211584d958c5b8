{{ config(meta={'scope': ['order_ref', 'order_ref']}) }}
{{ scope_dependencies('order_ref') }}
-- Every normalised reference that names a Shopify order, and the order it names (docs/mismatch-codes.md
-- "Linking the systems"): an order's id (`6100000000097`, `gid://shopify/Order/...`)
-- or its name (`#1001`, `1001`, `0001001`), both normalised with normalize_order_ref. When a
-- reference is one order's id and another's name, the id wins; when several orders share a name, the
-- first order (lowest id) does.

with

orders as (
    select * from {{ ref('stg_shopify__orders') }}
),

candidates as (
    select
        order_ref_id as order_ref,
        shopify_order_id,
        1 as priority
    from orders
    where order_ref_id is not null and {{ in_scope('order_ref_id') }}
    union all
    select
        order_ref_name as order_ref,
        shopify_order_id,
        2 as priority
    from orders
    where order_ref_name is not null and {{ in_scope('order_ref_name') }}
)

select distinct on (order_ref)
    order_ref,
    shopify_order_id,
    case priority when 1 then 'id' else 'name' end as matched_on
from candidates
order by order_ref asc, priority asc, shopify_order_id asc
