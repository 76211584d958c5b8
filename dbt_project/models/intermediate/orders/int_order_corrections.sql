{{ config(meta={'scope': ['order', 'shopify_order_id']}) }}
{{ scope_dependencies('order') }}
-- The order actions of the correction plan (docs/mismatch-codes.md "Corrections"): one row per action that
-- would make the system that is wrong agree with the system that is right, for the orders a correctable
-- code holds for as of var('as_of'). marts.correction_plan adds the inventory actions and the as-of.
-- Codes that share a fix share one row: Shopify's fulfillment with tracking answers both
-- TRACKING_MISSING_IN_SHOPIFY and DELIVERED_NOT_FULFILLED. The idempotency key is a SHA-256 of target
-- system, action and payload (jsonb's canonical text), so two builds that plan the same change give the
-- same key, and the push task never sends a key twice. Payloads hold only facts of the systems (never
-- as_of), so the key does not move between runs. Kept incrementally: a run plans again only the orders
-- it judges again (int_reconcile_changes).

with

-- the seed's correctable order codes, and the ShipHero corrections among them (one row)
correctable as (
    select
        coalesce(array_agg(code), '{}') as codes,
        coalesce(array_agg(code) filter (where correction_system = 'shiphero'), '{}') as shiphero_codes
    from {{ ref('mismatch_codes') }}
    where correctable and grain = 'order'
),

-- only the orders a correctable code holds for: every action below is one of theirs, so each lookup
-- reads what they need rather than every order's
orders as materialized (
    select * from {{ ref('int_order_reconciliation') }}
    where
        mismatch_codes && (select correctable.codes from correctable)
        and {{ in_scope('shopify_order_id') }}
),

shopify_orders as (
    select * from {{ ref('stg_shopify__orders') }}
    where shopify_order_id in (select orders.shopify_order_id from orders)
),

shopify_lines as (
    select * from {{ ref('stg_shopify__order_lines') }}
    where shopify_order_id in (select orders.shopify_order_id from orders)
),

shiphero_orders as (
    select * from {{ ref('stg_shiphero__orders') }}
    where shiphero_order_id in (select orders.shiphero_order_id from orders)
),

labels as (
    select * from {{ ref('stg_shiphero__shipping_labels') }}
    where
        tracking_number in (
            select numbers.tracking_number
            from orders
            cross join lateral unnest(orders.tracking_numbers) as numbers (tracking_number)
        )
),

carrier_map as (
    select * from {{ ref('carrier_map') }}
),

method_map as (
    select * from {{ ref('shipping_method_map') }}
),

-- the orders' payments that captured money not refunded back (joined here, on the tables, so that the
-- planner has their statistics: joined later as lists, it guessed a handful of rows and compared every pair)
live_payments as materialized (
    select
        links.shopify_order_id,
        payments.gateway,
        payments.payment_id,
        payments.created_at,
        payments.tracking_numbers
    from {{ ref('int_payment_links') }} as links
    inner join {{ ref('int_payments') }} as payments
        on
            links.gateway = payments.gateway
            and links.payment_id = payments.payment_id
    where
        links.shopify_order_id in (select orders.shopify_order_id from orders)
        and payments.captured_amount > 0
        and payments.captured_amount - payments.refunded_amount > {{ var('amount_tolerance') }}
),

stripe_charges as (
    select * from {{ ref('stg_stripe__charges') }}
),

-- the carrier of each shipment tracking number (its most recent label), in every system's vocabulary
tracking_carriers as (
    select distinct on (labels.tracking_number)
        labels.tracking_number,
        labels.carrier as shiphero_carrier,
        coalesce(carrier_map.paypal_carrier, 'OTHER') as paypal_carrier,
        coalesce(carrier_map.stripe_carrier, labels.carrier) as stripe_carrier,
        coalesce(carrier_map.shopify_company, labels.carrier) as shopify_company
    from labels
    left join carrier_map
        on lower(labels.carrier) = lower(carrier_map.shiphero_carrier)
    where labels.tracking_number is not null
    order by labels.tracking_number asc, labels.created_at desc nulls last, labels.label_id desc
),

-- Shopify's current line items (after edits; removed lines left out), in ShipHero's line-item shape
shopify_line_items as (
    select
        shopify_order_id,
        jsonb_agg(
            jsonb_build_object(
                'sku', sku,
                'partner_line_item_id', line_item_id::text,
                'product_name', line_item_name,
                'quantity', current_quantity,
                'price', unit_price::text
            )
            order by position, line_item_id
        ) as line_items
    from shopify_lines
    where coalesce(current_quantity, 0) > 0
    group by shopify_order_id
),

-- each order with what its ShipHero actions quote of both systems, joined once: Shopify's order (every
-- reconciled order is one), its address and current lines in ShipHero's shapes, and ShipHero's order
shiphero_context as (
    select
        orders.*,
        shopify_orders.created_at as shopify_created_at,
        shopify_orders.email,
        shopify_orders.cancel_reason,
        jsonb_build_object(
            'name', shopify_orders.ship_name,
            'first_name', shopify_orders.ship_first_name,
            'last_name', shopify_orders.ship_last_name,
            'company', shopify_orders.ship_company,
            'address1', shopify_orders.ship_address1,
            'address2', shopify_orders.ship_address2,
            'city', shopify_orders.ship_city,
            'state', shopify_orders.ship_province,
            'state_code', shopify_orders.ship_province_code,
            'zip', shopify_orders.ship_zip,
            'country', shopify_orders.ship_country,
            'country_code', shopify_orders.ship_country_code,
            'phone', shopify_orders.ship_phone
        ) as shopify_address,
        coalesce(shopify_line_items.line_items, '[]'::jsonb) as shopify_line_items,
        shopify_orders.shipping_title as shopify_shipping_title,
        shopify_orders.shipping_amount as shopify_shipping_amount,
        -- the method ShipHero must carry: Shopify's code through the seed (the code as it is when the seed
        -- lacks it), as the shipping-method comparison expects
        coalesce(method_map.shiphero_shipping_method, shopify_orders.shipping_code) as mapped_shipping_method,
        jsonb_build_object(
            'name', shiphero_orders.ship_name,
            'address1', shiphero_orders.ship_address1,
            'address2', shiphero_orders.ship_address2,
            'city', shiphero_orders.ship_city,
            'state_code', shiphero_orders.ship_province_code,
            'zip', shiphero_orders.ship_zip,
            'country_code', shiphero_orders.ship_country_code
        ) as shiphero_address,
        shiphero_orders.fulfillment_status as shiphero_fulfillment_status,
        shiphero_orders.shipping_carrier as shiphero_shipping_carrier,
        jsonb_build_object(
            'title', shiphero_orders.shipping_title,
            'method', shiphero_orders.shipping_method,
            'carrier', shiphero_orders.shipping_carrier,
            'price', shiphero_orders.shipping_price::text
        ) as shiphero_shipping_lines
    from orders
    inner join shopify_orders
        on orders.shopify_order_id = shopify_orders.shopify_order_id
    left join shopify_line_items
        on orders.shopify_order_id = shopify_line_items.shopify_order_id
    left join method_map
        on shopify_orders.shipping_code = method_map.shopify_shipping_code
    left join shiphero_orders
        on orders.shiphero_order_id = shiphero_orders.shiphero_order_id
    where orders.mismatch_codes && (select correctable.shiphero_codes from correctable)
),

-- ------------------------------------------------------------------------------------ ShipHero actions
-- per order and ShipHero code that holds for it: the object the action targets, what it sends and the
-- state it replaces (the action and the API operation come from shiphero_operations)
shiphero_changes as (
    select
        shopify_order_id,
        'MISSING_IN_3PL' as code,
        shopify_order_id::text as target_object_id,
        jsonb_build_object(
            'partner_order_id', shopify_order_id::text,
            'order_number', order_name,
            'order_date', to_char(shopify_created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
            'email', email,
            'currency', currency,
            'total_price', current_total_amount::text,
            'shipping_address', shopify_address,
            'shipping_lines', jsonb_build_object(
                'title', shopify_shipping_title,
                'method', mapped_shipping_method,
                'price', shopify_shipping_amount::text
            ),
            'line_items', shopify_line_items
        ) as payload,
        null::jsonb as before_state
    from shiphero_context
    where missing_in_3pl

    union all

    select
        shopify_order_id,
        'ADDRESS_MISMATCH' as code,
        shiphero_order_id as target_object_id,
        jsonb_build_object(
            'order_id', shiphero_order_id,
            'partner_order_id', shopify_order_id::text,
            'shipping_address', shopify_address
        ) as payload,
        jsonb_build_object('shipping_address', shiphero_address) as before_state
    from shiphero_context
    where address_mismatch

    union all

    select
        context.shopify_order_id,
        'LINE_ITEMS_MISMATCH' as code,
        context.shiphero_order_id as target_object_id,
        jsonb_build_object(
            'order_id', context.shiphero_order_id,
            'partner_order_id', context.shopify_order_id::text,
            'shopify_items', context.shopify_items,
            'shiphero_items', context.shiphero_items,
            -- Shopify's lines (partner line id, price, name) for the SKUs ShipHero must add
            'line_items', context.shopify_line_items,
            -- per SKU whose quantities differ: add (ShipHero lacks it), update, or remove (Shopify lacks it)
            'changes', (
                select
                    coalesce(jsonb_agg(
                        jsonb_build_object(
                            'sku', skus.sku,
                            'change', case
                                when not context.shiphero_items ? skus.sku then 'add'
                                when not context.shopify_items ? skus.sku then 'remove'
                                else 'update'
                            end,
                            'quantity', coalesce((context.shopify_items ->> skus.sku)::numeric, 0),
                            'shiphero_quantity', coalesce((context.shiphero_items ->> skus.sku)::numeric, 0)
                        )
                        order by skus.sku
                    ), '[]'::jsonb)
                from (
                    select jsonb_object_keys(context.shopify_items) as sku
                    union
                    select jsonb_object_keys(context.shiphero_items) as sku
                ) as skus
                where (context.shopify_items -> skus.sku) is distinct from (context.shiphero_items -> skus.sku)
            )
        ) as payload,
        jsonb_build_object('items', context.shiphero_items) as before_state
    from shiphero_context as context
    where context.line_items_mismatch

    union all

    select
        shopify_order_id,
        'SHIPPING_METHOD_MISMATCH' as code,
        shiphero_order_id as target_object_id,
        jsonb_build_object(
            'order_id', shiphero_order_id,
            'partner_order_id', shopify_order_id::text,
            'shipping_lines', jsonb_build_object(
                'title', shopify_shipping_title,
                'method', expected_shipping_method,
                'carrier', shiphero_shipping_carrier,
                'price', shopify_shipping_amount::text
            )
        ) as payload,
        shiphero_shipping_lines as before_state
    from shiphero_context
    where shipping_method_mismatch

    union all

    select
        shopify_order_id,
        'CANCELLED_NOT_IN_3PL' as code,
        shiphero_order_id as target_object_id,
        jsonb_build_object(
            'order_id', shiphero_order_id,
            'partner_order_id', shopify_order_id::text,
            'reason', coalesce(cancel_reason, 'cancelled in Shopify')
        ) as payload,
        jsonb_build_object('fulfillment_status', shiphero_fulfillment_status) as before_state
    from shiphero_context
    where cancelled_not_in_3pl

    union all

    select
        shopify_order_id,
        'UNPAID_NOT_HELD' as code,
        shiphero_order_id as target_object_id,
        jsonb_build_object(
            'order_id', shiphero_order_id,
            'partner_order_id', shopify_order_id::text,
            'payment_hold', true
        ) as payload,
        jsonb_build_object('payment_hold', false) as before_state
    from shiphero_context
    where unpaid_not_held
),

-- the action and ShipHero API operation that answers each code (the seed's)
shiphero_operations as (
    select
        code,
        correction_action as action,  -- noqa: RF04
        api_operation
    from {{ ref('mismatch_codes') }}
    where correction_system = 'shiphero'
),

shiphero_actions as (
    select
        'shiphero' as target_system,
        'order' as target_object,
        changes.target_object_id,
        operations.action,
        operations.api_operation,
        changes.payload,
        changes.before_state,
        array[changes.code] as mismatch_codes,
        changes.shopify_order_id
    from shiphero_changes as changes
    inner join shiphero_operations as operations
        on changes.code = operations.code
),

-- -------------------------------------------------------------------------------------- PayPal actions
-- a tracker per missing number, on the order's first live PayPal capture (one tracker on any of the
-- order's PayPal transactions is what the rule asks for)
live_paypal_captures as (
    select distinct on (live_payments.shopify_order_id)
        live_payments.shopify_order_id,
        live_payments.payment_id as capture_id
    from live_payments
    where live_payments.gateway = 'paypal'
    order by live_payments.shopify_order_id asc, live_payments.created_at asc, live_payments.payment_id asc
),

tracking_missing_in_paypal as (
    select
        'paypal' as target_system,
        'tracker' as target_object,
        live_paypal_captures.capture_id || '-' || numbers.tracking_number as target_object_id,
        'tracker_add' as action,  -- noqa: RF04
        'trackers_batch' as api_operation,
        jsonb_build_object(
            'capture_id', live_paypal_captures.capture_id,
            'transaction_id', live_paypal_captures.capture_id,
            'tracking_number', numbers.tracking_number,
            'carrier', coalesce(tracking_carriers.paypal_carrier, 'OTHER'),
            'carrier_name_other', case
                when coalesce(tracking_carriers.paypal_carrier, 'OTHER') = 'OTHER'
                    then tracking_carriers.shiphero_carrier
            end,
            'status', 'SHIPPED',
            'notify_payer', false
        ) as payload,
        jsonb_build_object('tracking_number', null) as before_state,
        array['TRACKING_MISSING_IN_PAYPAL'] as mismatch_codes,
        orders.shopify_order_id
    from orders
    inner join live_paypal_captures
        on orders.shopify_order_id = live_paypal_captures.shopify_order_id
    cross join lateral unnest(orders.tracking_numbers_missing_in_paypal) as numbers (tracking_number)
    left join tracking_carriers
        on numbers.tracking_number = tracking_carriers.tracking_number
    where orders.tracking_missing_in_paypal
),

-- -------------------------------------------------------------------------------------- Stripe actions
-- per live linked PaymentIntent that lacks a number: its latest captured charge gets the full list
-- (what the intent's charges already carry plus every shipment number of the order)
live_stripe_intents as (
    select
        live_payments.shopify_order_id,
        live_payments.payment_id as payment_intent_id,
        coalesce(live_payments.tracking_numbers, '[]'::jsonb) as tracking_numbers
    from live_payments
    where live_payments.gateway = 'stripe'
),

latest_captured_charges as (
    select distinct on (payment_intent_id)
        payment_intent_id,
        charge_id
    from stripe_charges
    where
        captured and status = 'succeeded'
        and payment_intent_id in (select live_stripe_intents.payment_intent_id from live_stripe_intents)
    order by payment_intent_id asc, created_at desc, charge_id desc
),

-- the carrier of the order's latest shipment number that has a label (Stripe holds one carrier per
-- charge); joined once rather than looked up per action, which scanned every label once per row
stripe_carriers as (
    select distinct on (orders.shopify_order_id)
        orders.shopify_order_id,
        tracking_carriers.stripe_carrier
    from orders
    cross join lateral unnest(orders.tracking_numbers) with ordinality as numbers (tracking_number, position)
    inner join tracking_carriers
        on numbers.tracking_number = tracking_carriers.tracking_number
    where orders.tracking_missing_in_stripe
    order by orders.shopify_order_id asc, numbers.position desc
),

tracking_missing_in_stripe as (
    select
        'stripe' as target_system,
        'charge' as target_object,
        latest_captured_charges.charge_id as target_object_id,
        'charge_update_shipping' as action,  -- noqa: RF04
        'charges_update' as api_operation,
        jsonb_build_object(
            'charge_id', latest_captured_charges.charge_id,
            'payment_intent_id', live_stripe_intents.payment_intent_id,
            'carrier', stripe_carriers.stripe_carrier,
            'tracking_numbers', (
                select to_jsonb(array_agg(distinct all_numbers.tracking_number order by all_numbers.tracking_number))
                from (
                    select existing.tracking_number
                    from
                        jsonb_array_elements_text(live_stripe_intents.tracking_numbers)
                            as existing (tracking_number)  -- noqa: RF04
                    union
                    select shipped.tracking_number
                    from unnest(orders.tracking_numbers) as shipped (tracking_number)
                ) as all_numbers
            ),
            -- Stripe's shipping object needs a name and an address with the numbers: Shopify's, which
            -- is the one the goods went to
            'shipping_name', shopify_orders.ship_name,
            'shipping_phone', shopify_orders.ship_phone,
            'shipping_address', jsonb_build_object(
                'line1', shopify_orders.ship_address1,
                'line2', shopify_orders.ship_address2,
                'city', shopify_orders.ship_city,
                'state', shopify_orders.ship_province_code,
                'postal_code', shopify_orders.ship_zip,
                'country', shopify_orders.ship_country_code
            )
        ) as payload,
        jsonb_build_object('tracking_numbers', live_stripe_intents.tracking_numbers) as before_state,
        array['TRACKING_MISSING_IN_STRIPE'] as mismatch_codes,
        orders.shopify_order_id
    from orders
    inner join live_stripe_intents
        on orders.shopify_order_id = live_stripe_intents.shopify_order_id
    inner join latest_captured_charges
        on live_stripe_intents.payment_intent_id = latest_captured_charges.payment_intent_id
    left join shopify_orders
        on orders.shopify_order_id = shopify_orders.shopify_order_id
    left join stripe_carriers
        on orders.shopify_order_id = stripe_carriers.shopify_order_id
    where
        orders.tracking_missing_in_stripe
        and not live_stripe_intents.tracking_numbers @> to_jsonb(orders.tracking_numbers)
),

-- ------------------------------------------------------------------------------------- Shopify actions
-- one fulfillment with tracking per order, for both codes that call for it
-- the fulfillment's tracking info: the numbers Shopify lacks (all of the order's numbers when it has
-- them all but is still not fulfilled), each with its carrier in Shopify's vocabulary
fulfillment_tracking as (
    select
        orders.shopify_order_id,
        jsonb_agg(
            jsonb_build_object(
                'number', numbers.tracking_number,
                'company', tracking_carriers.shopify_company
            )
            order by numbers.position
        ) as tracking_info
    from orders
    cross join
        lateral unnest(
            case
                when cardinality(orders.tracking_numbers_missing_in_shopify) > 0
                    then orders.tracking_numbers_missing_in_shopify
                else orders.tracking_numbers
            end
        ) with ordinality as numbers (tracking_number, position)
    left join tracking_carriers
        on numbers.tracking_number = tracking_carriers.tracking_number
    where orders.tracking_missing_in_shopify or orders.delivered_not_fulfilled
    group by orders.shopify_order_id
),

shopify_fulfillments as (
    select
        'shopify' as target_system,
        'order' as target_object,
        orders.shopify_order_id::text as target_object_id,
        'fulfillment_create' as action,  -- noqa: RF04
        'fulfillmentCreate' as api_operation,
        jsonb_build_object(
            'order_id', orders.shopify_order_id::text,
            'order_gid', orders.order_gid,
            'notify_customer', false,
            'tracking_info', fulfillment_tracking.tracking_info
        ) as payload,
        jsonb_build_object(
            'fulfillment_status', orders.fulfillment_status,
            'tracking_numbers_missing', to_jsonb(orders.tracking_numbers_missing_in_shopify)
        ) as before_state,
        array_remove(array[
            case when orders.tracking_missing_in_shopify then 'TRACKING_MISSING_IN_SHOPIFY' end,
            case when orders.delivered_not_fulfilled then 'DELIVERED_NOT_FULFILLED' end
        ], null) as mismatch_codes,
        orders.shopify_order_id
    from orders
    left join fulfillment_tracking
        on orders.shopify_order_id = fulfillment_tracking.shopify_order_id
    where orders.tracking_missing_in_shopify or orders.delivered_not_fulfilled
),

order_actions as (
    select * from shiphero_actions
    union all
    select * from tracking_missing_in_paypal
    union all
    select * from tracking_missing_in_stripe
    union all
    select * from shopify_fulfillments
)

select
    order_actions.target_system || ':' || order_actions.target_object || ':' || order_actions.target_object_id
    || ':' || order_actions.action as action_id,
    order_actions.target_system,
    order_actions.target_object,
    order_actions.target_object_id,
    order_actions.action,
    order_actions.api_operation,
    order_actions.payload,
    order_actions.before_state,
    order_actions.mismatch_codes,
    order_actions.shopify_order_id,
    orders.order_name,
    orders.currency,
    orders.amount_at_risk
from order_actions
inner join orders
    on order_actions.shopify_order_id = orders.shopify_order_id
