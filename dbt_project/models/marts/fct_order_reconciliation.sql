{{
    config(
        materialized='view',
        meta={'test_scope': [['int_order_reconciliation', 'shopify_order_id']]},
        post_hook="{{ describe_mismatch_flags('order') }}",
    )
}}
-- depends_on: {{ ref('mismatch_codes') }}  -- describe_mismatch_flags reads it

-- One row per Shopify order: the order as every system sees it, one flag per mismatch code
-- (docs/mismatch-codes.md), and the as-of it was judged at. The rows are int_order_reconciliation's,
-- which a run keeps up to date incrementally (it judges again only what can have changed), so every row
-- holds as of this run.

-- every column of the rows (documented in _marts__models.yml, the flags by seed mismatch_codes)
select
    reconciled.*,  -- noqa: AM04
    {{ as_of() }} as as_of
from {{ ref('int_order_reconciliation') }} as reconciled
