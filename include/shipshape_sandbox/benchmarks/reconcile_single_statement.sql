-- The dbt_build benchmark's baseline: SPEC.md's per-order mismatch flags computed from the raw tables in
-- one hand-written statement, with no intermediate tables and no dbt. Written from SPEC.md's rules (not
-- from the dbt models), so that the benchmark compares dbt against what a person would write by hand.
-- Parameters (psycopg named): as_of, amount_tolerance, grace_hours, sla_hours, paypal_lag_hours,
-- ship_on_authorization. The only table read outside raw is the shipping-method seed (configuration).
-- `payload || '{}'` is the payload itself (always a JSON object), detoasted once instead of once per `->`:
-- the same trick the dbt staging models use, so that neither side wins by it.
with

-- ------------------------------------------------------------------ the current version of every record
shopify_orders as (
    select distinct on (source_id) payload || '{}'::jsonb as p
    from raw.shopify__orders
    where source_updated_at is null or source_updated_at <= %(as_of)s
    order by source_id, source_updated_at desc nulls last, extracted_at desc, payload_hash desc
),
shiphero_orders_raw as (
    select distinct on (source_id) source_id, payload || '{}'::jsonb as p
    from raw.shiphero__orders
    where source_updated_at is null or source_updated_at <= %(as_of)s
    order by source_id, source_updated_at desc nulls last, extracted_at desc, payload_hash desc
),
shipments_raw as (
    select distinct on (source_id) source_id, payload || '{}'::jsonb as p
    from raw.shiphero__shipments
    where source_updated_at is null or source_updated_at <= %(as_of)s
    order by source_id, source_updated_at desc nulls last, extracted_at desc, payload_hash desc
),
trackers_raw as (
    select distinct on (source_id) source_id, payload || '{}'::jsonb as p
    from raw.tracking__trackers
    where source_updated_at is null or source_updated_at <= %(as_of)s
    order by source_id, source_updated_at desc nulls last, extracted_at desc, payload_hash desc
),
intents_raw as (
    select distinct on (source_id) source_id, payload || '{}'::jsonb as p
    from raw.stripe__payment_intents
    where source_updated_at is null or source_updated_at <= %(as_of)s
    order by source_id, source_updated_at desc nulls last, extracted_at desc, payload_hash desc
),
charges_raw as (
    select distinct on (source_id) source_id, payload || '{}'::jsonb as p
    from raw.stripe__charges
    where source_updated_at is null or source_updated_at <= %(as_of)s
    order by source_id, source_updated_at desc nulls last, extracted_at desc, payload_hash desc
),
refunds_raw as (
    select distinct on (source_id) source_id, payload || '{}'::jsonb as p
    from raw.stripe__refunds
    where source_updated_at is null or source_updated_at <= %(as_of)s
    order by source_id, source_updated_at desc nulls last, extracted_at desc, payload_hash desc
),
paypal_raw as (
    select distinct on (source_id) source_id, payload -> 'transaction_info' as t
    from raw.paypal__transactions
    where source_updated_at is null or source_updated_at <= %(as_of)s
    order by source_id, source_updated_at desc nulls last, extracted_at desc, payload_hash desc
),
paypal_trackers as materialized (
    select distinct on (source_id)
        payload ->> 'transaction_id' as transaction_id,
        nullif(upper(btrim(payload ->> 'tracking_number')), '') as number,
        payload ->> 'status' as status
    from raw.paypal__trackers
    where source_updated_at is null or source_updated_at <= %(as_of)s
    order by source_id, source_updated_at desc nulls last, extracted_at desc, payload_hash desc
),

-- ------------------------------------------------------------------------------------------- Shopify
orders as (
    select
        coalesce((p ->> 'legacyResourceId')::bigint, substring(p ->> 'id' from '([0-9]+)$')::bigint) as id,
        p,
        p ->> 'name' as name,
        nullif(p ->> 'createdAt', '')::timestamptz as placed_at,
        coalesce(nullif(p ->> 'cancelledAt', '')::timestamptz <= %(as_of)s, false) as cancelled,
        upper(p ->> 'currencyCode') as currency,
        coalesce(p ->> 'displayFulfillmentStatus' = 'FULFILLED', false) as shopify_fulfilled,
        coalesce((p -> 'totalPriceSet' -> 'shopMoney' ->> 'amount')::numeric, 0) as total,
        coalesce((p -> 'totalReceivedSet' -> 'shopMoney' ->> 'amount')::numeric, 0) as received,
        coalesce((p -> 'totalRefundedSet' -> 'shopMoney' ->> 'amount')::numeric, 0) as shopify_refunded,
        p -> 'shippingLine' ->> 'code' as shipping_code,
        p -> 'shippingAddress' as address
    from shopify_orders
),
-- an order is named by its id or its name, however another system spells it; its id wins over another
-- order's name, and of two orders with one name the older (lower id) does
order_refs as (
    select distinct on (ref) ref, id
    from (
        select id, 1 as priority,
            nullif(ltrim(lower(regexp_replace(btrim(id::text), '^(gid://shopify/order/)?#*', '', 'i')), '0'), '')
                as ref
        from orders
        union all
        select id, 2,
            nullif(ltrim(lower(btrim(regexp_replace(btrim(name), '^(gid://shopify/order/)?#*', '', 'i'))), '0'), '')
        from orders
    ) as refs
    where ref is not null
    order by ref, priority, id
),
lines as (
    select
        orders.id,
        coalesce(line -> 'sku' #>> '{}', '') as sku,
        coalesce((line ->> 'currentQuantity')::int, 0) as quantity,
        coalesce((line ->> 'requiresShipping')::boolean, true) as requires_shipping
    from orders
    cross join lateral jsonb_array_elements(
        case jsonb_typeof(orders.p -> 'lineItems') when 'array' then orders.p -> 'lineItems'
            else coalesce(orders.p -> 'lineItems' -> 'nodes', '[]') end
    ) as line
),
transactions as (
    select
        orders.id,
        txn ->> 'kind' as kind,
        txn ->> 'status' as status,
        txn ->> 'gateway' as gateway,
        coalesce(nullif(txn ->> 'processedAt', ''), nullif(txn ->> 'createdAt', ''))::timestamptz as at,
        lower(btrim(coalesce(
            nullif(txn ->> 'authorizationCode', ''),
            substring(txn ->> 'receiptJson' from '"(?:id|transaction_id)"\s*:\s*"([^"]+)"')
        ))) as reference
    from orders
    cross join lateral jsonb_array_elements(
        case jsonb_typeof(orders.p -> 'transactions') when 'array' then orders.p -> 'transactions'
            else coalesce(orders.p -> 'transactions' -> 'nodes', '[]') end
    ) as txn
),
shopify_tracking as (
    select distinct orders.id, nullif(upper(btrim(info ->> 'number')), '') as number
    from orders
    cross join lateral jsonb_array_elements(
        case jsonb_typeof(orders.p -> 'fulfillments') when 'array' then orders.p -> 'fulfillments'
            else coalesce(orders.p -> 'fulfillments' -> 'nodes', '[]') end
    ) as fulfillment
    cross join lateral jsonb_array_elements(
        case jsonb_typeof(fulfillment -> 'trackingInfo') when 'array' then fulfillment -> 'trackingInfo'
            else coalesce(fulfillment -> 'trackingInfo' -> 'nodes', '[]') end
    ) as info
    where fulfillment ->> 'status' = 'SUCCESS'
),

-- ------------------------------------------------------------------------------------------ payments
charges as (
    select
        source_id as id,
        case jsonb_typeof(p -> 'payment_intent') when 'object' then p -> 'payment_intent' ->> 'id'
            else p ->> 'payment_intent' end as intent_id,
        p ->> 'status' as status,
        coalesce((p ->> 'captured')::boolean, false) as is_captured,
        (p ->> 'amount_captured')::numeric
            / case when upper(p ->> 'currency') in ('JPY', 'KRW') then 1 else 100 end as captured,
        p -> 'shipping' ->> 'tracking_number' as tracking_list
    from charges_raw
),
stripe_refunds as (
    select
        charges.intent_id as payment_id,
        refunds_raw.source_id as refund_id,
        to_timestamp((refunds_raw.p ->> 'created')::numeric) as at,
        (refunds_raw.p ->> 'amount')::numeric
            / case when upper(refunds_raw.p ->> 'currency') in ('JPY', 'KRW') then 1 else 100 end as amount
    from refunds_raw
    inner join charges on charges.id = case jsonb_typeof(refunds_raw.p -> 'charge')
        when 'object' then refunds_raw.p -> 'charge' ->> 'id' else refunds_raw.p ->> 'charge' end
    where refunds_raw.p ->> 'status' = 'succeeded' and charges.intent_id is not null
),
paypal_refunds as (
    select
        t ->> 'paypal_reference_id' as payment_id,
        source_id as refund_id,
        nullif(t ->> 'transaction_initiation_date', '')::timestamptz as at,
        abs((t -> 'transaction_amount' ->> 'value')::numeric) as amount
    from paypal_raw
    where t ->> 'transaction_event_code' = 'T1107' and t ->> 'transaction_status' = 'S'
),
refund_events as (
    select 'stripe' as gateway, * from stripe_refunds
    union all
    select 'paypal', * from paypal_refunds
),
intent_charges as (
    select
        intent_id,
        sum(captured) filter (where is_capture) as captured,
        count(*) filter (where is_capture) as capture_count,
        bool_or(status = 'failed') as failed
    from (
        select *, status = 'succeeded' and is_captured and captured > 0 as is_capture from charges
    ) as c
    where intent_id is not null
    group by intent_id
),
intent_numbers as (
    select charges.intent_id, array_agg(distinct upper(btrim(number))) as numbers
    from charges, unnest(string_to_array(charges.tracking_list, ',')) as number
    where charges.status = 'succeeded' and charges.is_captured and charges.captured > 0 and btrim(number) != ''
    group by charges.intent_id
),
refunds_by_payment as (
    select gateway, payment_id, sum(amount) as refunded from refund_events group by gateway, payment_id
),
payments as (
    select
        'stripe' as gateway,
        intents_raw.source_id as payment_id,
        upper(intents_raw.p ->> 'currency') as currency,
        intents_raw.p -> 'metadata' ->> 'shopify_order_id' as claimed_order,
        coalesce(intent_charges.captured, 0) as captured,
        coalesce(intent_charges.capture_count, 0) as capture_count,
        case when intents_raw.p ->> 'status' = 'requires_capture'
            then (intents_raw.p ->> 'amount_capturable')::numeric
                / case when upper(intents_raw.p ->> 'currency') in ('JPY', 'KRW') then 1 else 100 end
            else 0 end as authorized,
        coalesce(intent_charges.failed, false)
        or (intents_raw.p ->> 'status' = 'requires_payment_method'
            and coalesce(intents_raw.p -> 'last_payment_error' ->> 'code', '') != '') as failed,
        intents_raw.p ->> 'status' = 'canceled' as voided,
        intent_numbers.numbers as stripe_numbers
    from intents_raw
    left join intent_charges on intent_charges.intent_id = intents_raw.source_id
    left join intent_numbers on intent_numbers.intent_id = intents_raw.source_id
    union all
    select
        'paypal',
        paypal_raw.source_id,
        upper(t -> 'transaction_amount' ->> 'currency_code'),
        t ->> 'invoice_id',
        case when t ->> 'transaction_status' in ('S', 'V') then (t -> 'transaction_amount' ->> 'value')::numeric
            else 0 end,
        case when t ->> 'transaction_status' in ('S', 'V') then 1 else 0 end,
        0,
        t ->> 'transaction_status' = 'D',
        false,
        null
    from paypal_raw
    where t ->> 'transaction_event_code' in ('T0003', 'T0005', 'T0006', 'T0007', 'T0011')
),
-- a payment belongs to the order whose transaction names it; else to the order its metadata or invoice
-- names (SPEC.md "Linking the systems")
by_reference as (
    select gateway, reference, min(id) as id
    from transactions
    where gateway in ('stripe', 'paypal') and reference != ''
    group by gateway, reference
),
linked as (
    select
        coalesce(by_reference.id, order_refs.id) as order_id,
        payments.*,
        coalesce(refunds_by_payment.refunded, 0) as refunded,
        payments.captured > 0
        and payments.captured - coalesce(refunds_by_payment.refunded, 0) > %(amount_tolerance)s as live
    from payments
    left join refunds_by_payment
        on refunds_by_payment.gateway = payments.gateway and refunds_by_payment.payment_id = payments.payment_id
    left join by_reference
        on by_reference.gateway = payments.gateway and by_reference.reference = lower(btrim(payments.payment_id))
    left join order_refs on order_refs.ref = nullif(ltrim(lower(btrim(
        regexp_replace(btrim(payments.claimed_order), '^(gid://shopify/order/)?#*', '', 'i'))), '0'), '')
    where coalesce(by_reference.id, order_refs.id) is not null
),
order_payments as (
    select
        order_id,
        count(*) as payment_count,
        sum(captured) as captured,
        sum(refunded) as refunded,
        sum(authorized) as authorized,
        sum(capture_count) as capture_count,
        bool_or(failed) as failed,
        bool_or(voided) as voided,
        array_agg(distinct currency) as currencies,
        bool_or(live and gateway = 'paypal') as live_paypal
    from linked
    group by order_id
),
-- when the refunds, in time order, first came within tolerance of everything captured
refund_replay as (
    select
        linked.order_id,
        refund_events.at,
        sum(refund_events.amount) over (
            partition by linked.order_id order by refund_events.at nulls first, refund_events.amount,
                refund_events.refund_id
        ) as refunded_so_far
    from refund_events
    inner join linked on linked.gateway = refund_events.gateway and linked.payment_id = refund_events.payment_id
),
fully_refunded as (
    select refund_replay.order_id, min(refund_replay.at) as at
    from refund_replay
    inner join order_payments on order_payments.order_id = refund_replay.order_id
    where refund_replay.at is not null and order_payments.captured > 0
        and order_payments.captured - refund_replay.refunded_so_far <= %(amount_tolerance)s
    group by refund_replay.order_id
),

-- -------------------------------------------------------------------------------- 3PL and the carrier
shiphero_orders as (
    select
        source_id as id,
        p,
        coalesce(partner.id, by_number.id) as order_id,
        row_number() over (
            partition by coalesce(partner.id, by_number.id)
            order by coalesce(p ->> 'fulfillment_status' = 'canceled', false),
                nullif(p ->> 'updated_at', '')::timestamptz desc nulls last, source_id collate "C" desc
        ) as claim
    from shiphero_orders_raw
    left join order_refs as partner on partner.ref = nullif(ltrim(lower(btrim(regexp_replace(
        btrim(p ->> 'partner_order_id'), '^(gid://shopify/order/)?#*', '', 'i'))), '0'), '')
    left join order_refs as by_number on by_number.ref = nullif(ltrim(lower(btrim(regexp_replace(
        btrim(p ->> 'order_number'), '^(gid://shopify/order/)?#*', '', 'i'))), '0'), '')
),
current_3pl as (
    select * from shiphero_orders where order_id is not null and claim = 1
),
carrier as (
    select distinct on (code)
        code,
        case p ->> 'status'
            when 'pre_transit' then 'pre_transit' when 'in_transit' then 'in_transit'
            when 'out_for_delivery' then 'out_for_delivery' when 'available_for_pickup' then 'out_for_delivery'
            when 'delivered' then 'delivered' when 'return_to_sender' then 'returned'
            when 'failure' then 'exception' when 'error' then 'exception' else 'unknown'
        end as status
    from (select *, nullif(upper(btrim(p ->> 'tracking_code')), '') as code from trackers_raw) as t
    where code is not null
    order by code, nullif(p ->> 'created_at', '')::timestamptz desc nulls last, source_id collate "C" desc
),
labels as (
    select
        shipments_raw.source_id as shipment_id,
        nullif(upper(btrim(label ->> 'tracking_number')), '') as number,
        carrier.status,
        row_number() over (
            partition by shipments_raw.source_id
            order by nullif(label ->> 'created_date', '')::timestamptz desc nulls last,
                (label ->> 'legacy_id')::bigint desc nulls last, label ->> 'id' desc
        ) as recency
    from shipments_raw
    cross join lateral jsonb_array_elements(
        case jsonb_typeof(shipments_raw.p -> 'shipping_labels') when 'array' then shipments_raw.p -> 'shipping_labels'
            else coalesce(shipments_raw.p -> 'shipping_labels' -> 'nodes', '[]') end
    ) as label
    left join carrier on carrier.code = nullif(upper(btrim(label ->> 'tracking_number')), '')
),
shipments as (
    select
        current_3pl.order_id,
        shipments_raw.source_id as id,
        nullif(shipments_raw.p ->> 'created_date', '')::timestamptz as created_at,
        row_number() over (
            partition by current_3pl.order_id
            order by nullif(shipments_raw.p ->> 'created_date', '')::timestamptz desc nulls last,
                (shipments_raw.p ->> 'legacy_id')::bigint desc nulls last, shipments_raw.source_id desc
        ) as recency,
        coalesce(shipment_labels.delivered, false) as delivered,
        coalesce(shipment_labels.carrier_status, 'none') as carrier_status
    from shipments_raw
    inner join current_3pl on current_3pl.id = shipments_raw.p ->> 'order_id'
    left join (
        select
            shipment_id,
            bool_and(coalesce(status = 'delivered', false)) as delivered,
            min(coalesce(status, 'none')) filter (where recency = 1) as carrier_status
        from labels
        group by shipment_id
    ) as shipment_labels on shipment_labels.shipment_id = shipments_raw.source_id
),
order_shipments as (
    select
        order_id,
        max(created_at) as last_shipped_at,
        bool_and(delivered) as all_delivered,
        min(carrier_status) filter (where recency = 1) as latest_status
    from shipments
    group by order_id
),
shipment_numbers as (
    select distinct shipments.order_id, labels.number
    from shipments
    inner join labels on labels.shipment_id = shipments.id
    where labels.number is not null
),
paypal_tracked as (
    select distinct linked.order_id, paypal_trackers.number
    from linked
    inner join paypal_trackers on paypal_trackers.transaction_id = linked.payment_id
    where linked.gateway = 'paypal' and paypal_trackers.status is distinct from 'CANCELLED'
),
stripe_missing as (
    select distinct shipment_numbers.order_id, shipment_numbers.number
    from shipment_numbers
    inner join linked on linked.order_id = shipment_numbers.order_id
    where linked.gateway = 'stripe' and linked.live
        and not coalesce(shipment_numbers.number = any(linked.stripe_numbers), false)
),
tracking_gaps as (
    select
        shipment_numbers.order_id,
        bool_or(shopify_tracking.number is null) as missing_in_shopify,
        bool_or(paypal_tracked.number is null) as missing_in_paypal,
        bool_or(stripe_missing.number is not null) as missing_in_stripe
    from shipment_numbers
    left join shopify_tracking
        on shopify_tracking.id = shipment_numbers.order_id and shopify_tracking.number = shipment_numbers.number
    left join paypal_tracked
        on paypal_tracked.order_id = shipment_numbers.order_id and paypal_tracked.number = shipment_numbers.number
    left join stripe_missing
        on stripe_missing.order_id = shipment_numbers.order_id and stripe_missing.number = shipment_numbers.number
    group by shipment_numbers.order_id
),

-- ------------------------------------------------------------------------------- the three comparisons
line_items_differ as (
    select coalesce(shopify_side.id, shiphero_side.id) as id
    from (
        select id, sku, sum(quantity) as quantity from lines
        where id in (select order_id from current_3pl) group by id, sku
    ) as shopify_side
    full join (
        select current_3pl.order_id as id, coalesce(item ->> 'sku', '') as sku,
            sum(coalesce((item ->> 'quantity')::int, 0)) as quantity
        from current_3pl
        cross join lateral jsonb_array_elements(
            case jsonb_typeof(current_3pl.p -> 'line_items') when 'array' then current_3pl.p -> 'line_items'
                else coalesce(current_3pl.p -> 'line_items' -> 'nodes',
                    jsonb_path_query_array(current_3pl.p -> 'line_items', '$.edges[*].node')) end
        ) as item
        group by current_3pl.order_id, coalesce(item ->> 'sku', '')
    ) as shiphero_side on shopify_side.id = shiphero_side.id and shopify_side.sku = shiphero_side.sku
    where coalesce(shopify_side.quantity, 0) != coalesce(shiphero_side.quantity, 0)
    group by 1
),

-- ------------------------------------------------------------------------------------ one row per order
facts as (
    select
        orders.*,
        current_3pl.id is not null as in_3pl,
        coalesce(order_shipments.order_id is not null, false) as shipped,
        current_3pl.id is not null and current_3pl.p ->> 'fulfillment_status' is distinct from 'canceled'
            and order_shipments.order_id is null as active_in_3pl,
        coalesce((current_3pl.p -> 'holds' ->> 'payment_hold')::boolean, false) as payment_hold,
        lower(coalesce(method_map.shiphero_shipping_method, orders.shipping_code))
            != lower(coalesce(current_3pl.p -> 'shipping_lines' ->> 'method', '')) as method_differs,
        coalesce(order_lines.needs_shipping, false) as needs_shipping,
        coalesce(order_payments.payment_count, 0) as payment_count,
        coalesce(order_payments.captured, 0) as captured,
        coalesce(order_payments.refunded, 0) as refunded,
        coalesce(order_payments.capture_count, 0) as capture_count,
        coalesce(order_payments.live_paypal, false) as live_paypal,
        coalesce(order_payments.currencies, '{}') as currencies,
        case
            when order_payments.captured > 0 and order_payments.refunded = 0 then 'paid'
            when order_payments.captured > 0
                and order_payments.captured - order_payments.refunded <= %(amount_tolerance)s then 'refunded'
            when order_payments.captured > 0 then 'partially_refunded'
            when order_payments.authorized > 0 then 'authorized'
            when order_payments.failed then 'failed'
            when order_payments.voided then 'voided'
            else 'unpaid'
        end as payment_status,
        coalesce(paypal_movements.last_at > %(as_of)s - make_interval(hours => %(paypal_lag_hours)s), false)
            as paypal_pending,
        order_shipments.last_shipped_at,
        coalesce(order_shipments.all_delivered, false) as all_delivered,
        order_shipments.latest_status,
        fully_refunded.at as fully_refunded_at,
        -- SPEC.md "Comparing addresses"
        coalesce(jsonb_typeof(orders.address) = 'object' and (
            upper(regexp_replace(coalesce(orders.address ->> 'zip', ''), '[[:punct:][:space:]]', '', 'g'))
            != upper(regexp_replace(
                coalesce(current_3pl.p -> 'shipping_address' ->> 'zip', ''), '[[:punct:][:space:]]', '', 'g'
            ))
            or exists (
                select
                from unnest(
                    array[
                        orders.address ->> 'name', orders.address ->> 'address1', orders.address ->> 'address2',
                        orders.address ->> 'city', orders.address ->> 'provinceCode',
                        orders.address ->> 'countryCodeV2'
                    ],
                    array[
                        btrim(coalesce(current_3pl.p -> 'shipping_address' ->> 'first_name', '') || ' '
                            || coalesce(current_3pl.p -> 'shipping_address' ->> 'last_name', '')),
                        current_3pl.p -> 'shipping_address' ->> 'address1',
                        current_3pl.p -> 'shipping_address' ->> 'address2',
                        current_3pl.p -> 'shipping_address' ->> 'city',
                        current_3pl.p -> 'shipping_address' ->> 'state_code',
                        current_3pl.p -> 'shipping_address' ->> 'country_code'
                    ]
                ) as pair (shopify, shiphero)
                where
                    btrim(regexp_replace(regexp_replace(lower(coalesce(shopify, '')), '[[:punct:]]', '', 'g'),
                        '\s+', ' ', 'g'))
                    != btrim(regexp_replace(regexp_replace(lower(coalesce(shiphero, '')), '[[:punct:]]', '', 'g'),
                        '\s+', ' ', 'g'))
            )
        ), false) as address_differs,
        coalesce(line_items_differ.id is not null, false) as line_items_differ,
        coalesce(tracking_gaps.missing_in_shopify, false) as missing_in_shopify,
        coalesce(tracking_gaps.missing_in_paypal, false) as missing_in_paypal,
        coalesce(tracking_gaps.missing_in_stripe, false) as missing_in_stripe
    from orders
    left join current_3pl on current_3pl.order_id = orders.id
    left join order_shipments on order_shipments.order_id = orders.id
    left join staging.shipping_method_map as method_map on method_map.shopify_shipping_code = orders.shipping_code
    left join order_payments on order_payments.order_id = orders.id
    left join fully_refunded on fully_refunded.order_id = orders.id
    left join line_items_differ on line_items_differ.id = orders.id
    left join tracking_gaps on tracking_gaps.order_id = orders.id
    left join (
        select id, bool_or(requires_shipping and quantity > 0) as needs_shipping from lines group by id
    ) as order_lines on order_lines.id = orders.id
    left join (
        select id, max(at) as last_at from transactions
        where gateway = 'paypal' and status = 'SUCCESS' and kind in ('SALE', 'CAPTURE', 'REFUND')
        group by id
    ) as paypal_movements on paypal_movements.id = orders.id
),
judged as (
    select
        *,
        payment_status in ('paid', 'partially_refunded')
        or (payment_status = 'authorized' and %(ship_on_authorization)s) as good_to_ship
    from facts
)

select
    id as shopify_order_id,
    good_to_ship and not cancelled and needs_shipping and not in_3pl
    and placed_at <= %(as_of)s - make_interval(hours => %(grace_hours)s) as missing_in_3pl,
    not cancelled and active_in_3pl and address_differs as address_mismatch,
    not cancelled and active_in_3pl and line_items_differ as line_items_mismatch,
    not cancelled and active_in_3pl and shipping_code is not null and method_differs as shipping_method_mismatch,
    cancelled and active_in_3pl as cancelled_not_in_3pl,
    cancelled and shipped as cancelled_but_shipped,
    not cancelled and active_in_3pl and not good_to_ship and not payment_hold and not paypal_pending
        as unpaid_not_held,
    shipped and payment_status in ('unpaid', 'failed', 'voided') and not paypal_pending as shipped_unpaid,
    payment_status = 'refunded' and shipped and coalesce(last_shipped_at > fully_refunded_at, false)
        as shipped_after_refund,
    (captured > 0 or refunded > 0) and not paypal_pending
    and (abs((captured - refunded) - (received - shopify_refunded)) > %(amount_tolerance)s
        or exists (select from unnest(currencies) as c where c is distinct from currency)) as amount_mismatch,
    received > 0 and payment_count = 0 and not paypal_pending as payment_missing,
    capture_count > 1 and captured > total + %(amount_tolerance)s as duplicate_capture,
    live_paypal and missing_in_paypal as tracking_missing_in_paypal,
    missing_in_stripe as tracking_missing_in_stripe,
    missing_in_shopify as tracking_missing_in_shopify,
    shipped and all_delivered and not shopify_fulfilled as delivered_not_fulfilled,
    shopify_fulfilled and not shipped as fulfilled_without_shipment,
    good_to_ship and not cancelled and needs_shipping and not shipped
    and placed_at <= %(as_of)s - make_interval(hours => %(sla_hours)s) as stalled_fulfillment,
    shipped and latest_status in ('exception', 'returned') as delivery_exception
from judged
