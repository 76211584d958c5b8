{{
    config(meta={
        'raw_key': 'shiphero_order_id',
        'change_keys': [['shiphero_order', 'shiphero_order_id']],
    })
}}

-- One row per ShipHero (3PL) order: its latest version as of var('as_of'), with the Shopify order it
-- claims normalised for linking (partner_order_id = Shopify order id, order_number = Shopify order name).
with

latest as (
    {{ latest_versions('shiphero', 'shiphero__orders') }}
),

typed as (
    select
        latest.source_id as shiphero_order_id,
        (latest.payload ->> 'legacy_id')::bigint as legacy_id,
        latest.payload ->> 'order_number' as order_number,
        latest.payload ->> 'partner_order_id' as partner_order_id,
        latest.payload ->> 'shop_name' as shop_name,
        latest.payload ->> 'fulfillment_status' as fulfillment_status,
        {{ iso_timestamp("latest.payload ->> 'order_date'") }} as order_date,
        {{ iso_timestamp("latest.payload ->> 'updated_at'") }} as updated_at,
        upper(latest.payload ->> 'currency') as currency,
        latest.payload ->> 'email' as email,
        jsonb_typeof(latest.payload -> 'shipping_address') = 'object' as has_shipping_address,
        trim(
            coalesce(latest.payload -> 'shipping_address' ->> 'first_name', '')
            || ' '
            || coalesce(latest.payload -> 'shipping_address' ->> 'last_name', '')
        ) as ship_name,
        latest.payload -> 'shipping_address' ->> 'first_name' as ship_first_name,
        latest.payload -> 'shipping_address' ->> 'last_name' as ship_last_name,
        latest.payload -> 'shipping_address' ->> 'company' as ship_company,
        latest.payload -> 'shipping_address' ->> 'address1' as ship_address1,
        latest.payload -> 'shipping_address' ->> 'address2' as ship_address2,
        latest.payload -> 'shipping_address' ->> 'city' as ship_city,
        latest.payload -> 'shipping_address' ->> 'state' as ship_province,
        latest.payload -> 'shipping_address' ->> 'state_code' as ship_province_code,
        latest.payload -> 'shipping_address' ->> 'zip' as ship_zip,
        latest.payload -> 'shipping_address' ->> 'country' as ship_country,
        latest.payload -> 'shipping_address' ->> 'country_code' as ship_country_code,
        latest.payload -> 'shipping_address' ->> 'phone' as ship_phone,
        latest.payload -> 'shipping_lines' ->> 'carrier' as shipping_carrier,
        latest.payload -> 'shipping_lines' ->> 'method' as shipping_method,
        latest.payload -> 'shipping_lines' ->> 'title' as shipping_title,
        {{ decimal_amount("latest.payload -> 'shipping_lines' ->> 'price'") }} as shipping_price,
        coalesce((latest.payload -> 'holds' ->> 'payment_hold')::boolean, false) as payment_hold,
        coalesce((latest.payload -> 'holds' ->> 'operator_hold')::boolean, false) as operator_hold,
        coalesce((latest.payload -> 'holds' ->> 'fraud_hold')::boolean, false) as fraud_hold,
        coalesce((latest.payload -> 'holds' ->> 'address_hold')::boolean, false) as address_hold,
        coalesce((latest.payload -> 'holds' ->> 'client_hold')::boolean, false) as client_hold,
        {{ decimal_amount("latest.payload ->> 'total_price'") }} as total_price,
        {{ decimal_amount("latest.payload ->> 'subtotal'") }} as subtotal,
        latest.source_updated_at,
        latest.extracted_at
    from latest
)

select
    shiphero_order_id,
    legacy_id,
    order_number,
    partner_order_id,
    {{ normalize_order_ref('partner_order_id') }} as partner_order_ref,
    {{ normalize_order_ref('order_number') }} as order_number_ref,
    shop_name,
    fulfillment_status,
    order_date,
    updated_at,
    currency,
    email,
    has_shipping_address,
    ship_name,
    ship_first_name,
    ship_last_name,
    ship_company,
    ship_address1,
    ship_address2,
    ship_city,
    ship_province,
    ship_province_code,
    ship_zip,
    ship_country,
    ship_country_code,
    ship_phone,
    shipping_carrier,
    shipping_method,
    shipping_title,
    shipping_price,
    payment_hold,
    operator_hold,
    fraud_hold,
    address_hold,
    client_hold,
    total_price,
    subtotal,
    source_updated_at,
    extracted_at
from typed
