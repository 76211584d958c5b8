{{ config(meta={'scope': ['order', 'shopify_order_id']}) }}
{{ scope_dependencies('order') }}
{#- The order-grain codes of seeds/mismatch_codes.csv, in its order: one flag column each (the rules in
    `flagged` below); their severities come from the seed. tests/test_mismatch_codes.py keeps this list
    and the seed equal. -#}
{%- set codes = [
    'missing_in_3pl',
    'address_mismatch',
    'line_items_mismatch',
    'shipping_method_mismatch',
    'cancelled_not_in_3pl',
    'cancelled_but_shipped',
    'unpaid_not_held',
    'shipped_unpaid',
    'shipped_after_refund',
    'amount_mismatch',
    'payment_missing',
    'duplicate_capture',
    'tracking_missing_in_paypal',
    'tracking_missing_in_stripe',
    'tracking_missing_in_shopify',
    'delivered_not_fulfilled',
    'fulfilled_without_shipment',
    'stalled_fulfillment',
    'delivery_exception',
] -%}
{%- set tolerance = var('amount_tolerance') -%}
{#- A JSON list of strings (intermediate models carry lists as jsonb) as a text[]; null -> {}. -#}
{%- set text_array_pattern = "array(select list.item from jsonb_array_elements_text(coalesce(EXPR, '[]'))"
    ~ " with ordinality as list (item, position) order by list.position)" -%}

-- One row per Shopify order: the order as every system sees it, and one flag per mismatch code, judged as
-- of var('as_of'). Each rule is docs/mismatch-codes.md's, in the terms it defines. The rows of
-- marts.fct_order_reconciliation (which adds the as-of), kept incrementally: a run judges again only the
-- orders whose facts changed or whose time rules can have turned (int_reconcile_changes).

with

facts as (
    select * from {{ ref('int_order_facts') }}
    where {{ in_scope('shopify_order_id') }}
),

-- docs/mismatch-codes.md "Terms", each never null
terms as (
    select
        *,
        coalesce(shopify_cancelled_at <= {{ as_of() }}, false) as is_cancelled,
        coalesce(shiphero_order_id is not null, false) as in_3pl,
        coalesce(
            shiphero_order_id is not null
            and shiphero_fulfillment_status is distinct from 'canceled'
            and not coalesce(has_shipment, false),
            false
        ) as is_active_in_3pl,
        coalesce(
            payment_status in ('paid', 'partially_refunded')
            or (payment_status = 'authorized' and {{ var('ship_on_authorization') }}),
            false
        ) as is_good_to_ship,
        coalesce(payment_status, 'unpaid') as payment_status_or_unpaid,
        coalesce(has_shipment, false) as shipped,
        coalesce(needs_shipping, false) as needs_shipping_,
        coalesce(gateway_captured_amount, 0) as captured_,
        coalesce(gateway_refunded_amount, 0) as refunded_,
        coalesce(shopify_received_amount, 0) as received_,
        coalesce(shopify_refunded_amount, 0) as shopify_refunded_,
        coalesce(display_fulfillment_status = 'FULFILLED', false) as shopify_fulfilled,
        -- PayPal publishes a movement up to paypal_publish_lag_hours late: until then the warehouse may
        -- not hold it, so the rules that would read its absence as "not paid" or "amounts differ" wait
        -- (a payment hold on an order that is in fact paid would stop a good shipment)
        coalesce(
            last_shopify_paypal_movement_at
            > {{ as_of() }} - interval '{{ var("paypal_publish_lag_hours") }} hours',
            false
        ) as paypal_publication_pending
    from facts
),

flagged as (
    select
        *,
        (
            is_good_to_ship and not is_cancelled and needs_shipping_ and not in_3pl
            and placed_at <= {{ as_of() }} - interval '{{ var("missing_in_3pl_grace_hours") }} hours'
        ) as missing_in_3pl,
        (
            not is_cancelled and is_active_in_3pl and coalesce(has_shipping_address, false)
            and coalesce(address_differs, false)
        ) as address_mismatch,
        (not is_cancelled and is_active_in_3pl and coalesce(line_items_differ, false)) as line_items_mismatch,
        (
            not is_cancelled and is_active_in_3pl and shipping_code is not null
            and coalesce(shipping_method_differs, false)
        ) as shipping_method_mismatch,
        (is_cancelled and is_active_in_3pl) as cancelled_not_in_3pl,
        (is_cancelled and shipped) as cancelled_but_shipped,
        (
            not is_cancelled and is_active_in_3pl and not is_good_to_ship
            and not coalesce(shiphero_payment_hold, false)
            and not paypal_publication_pending
        ) as unpaid_not_held,
        (
            shipped and payment_status_or_unpaid in ('unpaid', 'failed', 'voided')
            and not paypal_publication_pending
        ) as shipped_unpaid,
        (
            payment_status_or_unpaid = 'refunded' and shipped
            and coalesce(last_shipped_at > refunds_reached_captured_at, false)
        ) as shipped_after_refund,
        (
            (captured_ > 0 or refunded_ > 0)
            and not paypal_publication_pending
            and (
                abs((captured_ - refunded_) - (received_ - shopify_refunded_)) > {{ tolerance }}
                or coalesce(payment_currency_differs, false)
            )
        ) as amount_mismatch,
        (received_ > 0 and coalesce(payment_count, 0) = 0 and not paypal_publication_pending) as payment_missing,
        (
            coalesce(gateway_capture_count, 0) > 1
            and captured_ > coalesce(order_total_amount, 0) + {{ tolerance }}
        ) as duplicate_capture,
        (
            coalesce(has_live_paypal_capture, false)
            and coalesce(jsonb_array_length(numbers_missing_in_paypal), 0) > 0
        ) as tracking_missing_in_paypal,
        coalesce(jsonb_array_length(numbers_missing_in_stripe), 0) > 0 as tracking_missing_in_stripe,
        coalesce(jsonb_array_length(numbers_missing_in_shopify), 0) > 0 as tracking_missing_in_shopify,
        (shipped and coalesce(all_shipments_delivered, false) and not shopify_fulfilled) as delivered_not_fulfilled,
        (shopify_fulfilled and not shipped) as fulfilled_without_shipment,
        (
            is_good_to_ship and not is_cancelled and needs_shipping_ and not shipped
            and placed_at <= {{ as_of() }} - interval '{{ var("ship_sla_hours") }} hours'
        ) as stalled_fulfillment,
        (shipped and latest_carrier_status in ('exception', 'returned')) as delivery_exception
    from terms
),

summarized as (
    select
        *,
        array_remove(array[
            {%- for code in codes %}
                case when {{ code }} then '{{ code | upper }}' end{{ ',' if not loop.last }}
            {%- endfor %}
        ]::text[], null) as mismatch_codes,
        -- the order's net amount: what it is worth now (current total after edits, less Shopify's refunds)
        greatest(coalesce(current_total_amount, order_total_amount, 0) - shopify_refunded_, 0) as net_amount
    from flagged
),

-- the codes of each severity, from the seed (one row)
severities as (
    select
        coalesce(array_agg(code) filter (where severity = 'high'), '{}') as high_codes,
        coalesce(array_agg(code) filter (where severity = 'medium'), '{}') as medium_codes,
        coalesce(array_agg(code) filter (where severity = 'low'), '{}') as low_codes
    from {{ ref('mismatch_codes') }}
),

-- the highest severity among the codes that hold
rated as (
    select
        summarized.*,
        case
            when summarized.mismatch_codes && severities.high_codes then 'high'
            when summarized.mismatch_codes && severities.medium_codes then 'medium'
            when summarized.mismatch_codes && severities.low_codes then 'low'
            else 'none'
        end as max_severity
    from summarized
    cross join severities
)

select
    -- ids in every system
    shopify_order_id,
    order_name,
    order_gid,
    shiphero_order_id,
    shiphero_legacy_id,
    {{ text_array_pattern | replace('EXPR', 'stripe_payment_intent_ids') }} as stripe_payment_intent_ids,
    {{ text_array_pattern | replace('EXPR', 'paypal_capture_ids') }} as paypal_capture_ids,
    -- statuses (docs/mismatch-codes.md "Statuses")
    case
        when is_cancelled then 'cancelled'
        when shopify_fulfilled then 'fulfilled'
        when
            display_financial_status in ('AUTHORIZED', 'PAID', 'PARTIALLY_PAID', 'PARTIALLY_REFUNDED', 'REFUNDED')
            or display_fulfillment_status in ('PARTIALLY_FULFILLED', 'IN_PROGRESS', 'ON_HOLD', 'SCHEDULED')
            then 'processing'
        else 'pending'
    end as order_status,
    payment_status_or_unpaid as payment_status,
    case
        when not in_3pl then 'not_sent'
        when shiphero_fulfillment_status = 'canceled' then 'cancelled'
        when shiphero_fulfillment_status = 'fulfilled' then 'shipped'
        when shiphero_fulfillment_status = 'partially_fulfilled' or shipped then 'partially_shipped'
        when shiphero_fulfillment_status = 'on_hold' or coalesce(shiphero_payment_hold, false) then 'on_hold'
        else 'pending'
    end as fulfillment_status,
    case when shipped then latest_carrier_status else 'none' end as shipping_status,
    -- stage timestamps
    placed_at,
    paid_at,
    shiphero_order_date as sent_to_3pl_at,
    first_shipped_at as shipped_at,
    delivered_at,
    case when is_cancelled then shopify_cancelled_at end as cancelled_at,
    -- amounts, in the order currency
    currency,
    order_total_amount,
    current_total_amount,
    received_ as shopify_received_amount,
    shopify_refunded_ as shopify_refunded_amount,
    received_ - shopify_refunded_ as shopify_net_amount,
    captured_ as gateway_captured_amount,
    refunded_ as gateway_refunded_amount,
    captured_ - refunded_ as gateway_net_amount,
    -- what the corrections need
    shopify_items,
    shiphero_items,
    expected_shipping_method,
    shiphero_shipping_method,
    {{ text_array_pattern | replace('EXPR', 'tracking_numbers') }} as tracking_numbers,
    {{ text_array_pattern | replace('EXPR', 'numbers_missing_in_shopify') }} as tracking_numbers_missing_in_shopify,
    {{ text_array_pattern | replace('EXPR', 'numbers_missing_in_paypal') }} as tracking_numbers_missing_in_paypal,
    {{ text_array_pattern | replace('EXPR', 'numbers_missing_in_stripe') }} as tracking_numbers_missing_in_stripe,
    paypal_publication_pending,
    -- one flag per code
    {%- for code in codes %}
        coalesce({{ code }}, false) as {{ code }},
    {%- endfor %}
    mismatch_codes,
    cardinality(mismatch_codes) as mismatch_count,
    max_severity,
    greatest(
        case when max_severity = 'high' then net_amount else 0 end,
        case when tracking_missing_in_paypal then coalesce(live_paypal_captured_amount, 0) else 0 end
    ) as amount_at_risk
from rated
