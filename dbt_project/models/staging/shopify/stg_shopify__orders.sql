{{
    config(meta={
        'raw_key': 'order_gid',
        'change_keys': [['shopify_order', 'shopify_order_id'], ['order_ref', 'order_ref_id'], ['order_ref', 'order_ref_name']],
    })
}}

-- One row per Shopify order: its latest version as of var('as_of'), money in major units (shop money),
-- ids normalised for linking. Nested lists are in the stg_shopify__order_* / fulfillment* models.
with

latest as (
    {{ latest_versions('shopify', 'shopify__orders') }}
),

typed as (
    select
        coalesce(
            (latest.payload ->> 'legacyResourceId')::bigint,
            {{ shopify_legacy_id("latest.payload ->> 'id'") }}
        ) as shopify_order_id,
        latest.source_id as order_gid,
        latest.payload ->> 'name' as order_name,
        {{ iso_timestamp("latest.payload ->> 'createdAt'") }} as created_at,
        {{ iso_timestamp("latest.payload ->> 'updatedAt'") }} as updated_at,
        {{ iso_timestamp("latest.payload ->> 'processedAt'") }} as processed_at,
        {{ iso_timestamp("latest.payload ->> 'cancelledAt'") }} as cancelled_at,
        latest.payload ->> 'cancelReason' as cancel_reason,
        {{ iso_timestamp("latest.payload ->> 'closedAt'") }} as closed_at,
        upper(latest.payload ->> 'currencyCode') as currency,
        latest.payload ->> 'displayFinancialStatus' as display_financial_status,
        latest.payload ->> 'displayFulfillmentStatus' as display_fulfillment_status,
        {{ decimal_amount("latest.payload -> 'totalPriceSet' -> 'shopMoney' ->> 'amount'") }} as total_amount,
        {{ decimal_amount("latest.payload -> 'currentTotalPriceSet' -> 'shopMoney' ->> 'amount'") }}
            as current_total_amount,
        {{ decimal_amount("latest.payload -> 'subtotalPriceSet' -> 'shopMoney' ->> 'amount'") }}
            as subtotal_amount,
        {{ decimal_amount("latest.payload -> 'currentSubtotalPriceSet' -> 'shopMoney' ->> 'amount'") }}
            as current_subtotal_amount,
        {{ decimal_amount("latest.payload -> 'totalReceivedSet' -> 'shopMoney' ->> 'amount'") }}
            as received_amount,
        {{ decimal_amount("latest.payload -> 'totalRefundedSet' -> 'shopMoney' ->> 'amount'") }}
            as refunded_amount,
        jsonb_typeof(latest.payload -> 'shippingLine') = 'object' as has_shipping_line,
        latest.payload -> 'shippingLine' ->> 'code' as shipping_code,
        latest.payload -> 'shippingLine' ->> 'title' as shipping_title,
        {{ decimal_amount("latest.payload -> 'shippingLine' -> 'originalPriceSet' -> 'shopMoney' ->> 'amount'") }}
            as shipping_amount,
        jsonb_typeof(latest.payload -> 'shippingAddress') = 'object' as has_shipping_address,
        latest.payload -> 'shippingAddress' ->> 'name' as ship_name,
        latest.payload -> 'shippingAddress' ->> 'firstName' as ship_first_name,
        latest.payload -> 'shippingAddress' ->> 'lastName' as ship_last_name,
        latest.payload -> 'shippingAddress' ->> 'company' as ship_company,
        latest.payload -> 'shippingAddress' ->> 'address1' as ship_address1,
        latest.payload -> 'shippingAddress' ->> 'address2' as ship_address2,
        latest.payload -> 'shippingAddress' ->> 'city' as ship_city,
        latest.payload -> 'shippingAddress' ->> 'province' as ship_province,
        latest.payload -> 'shippingAddress' ->> 'provinceCode' as ship_province_code,
        latest.payload -> 'shippingAddress' ->> 'zip' as ship_zip,
        latest.payload -> 'shippingAddress' ->> 'country' as ship_country,
        latest.payload -> 'shippingAddress' ->> 'countryCodeV2' as ship_country_code,
        latest.payload -> 'shippingAddress' ->> 'phone' as ship_phone,
        latest.payload ->> 'email' as email,
        latest.source_updated_at,
        latest.extracted_at
    from latest
)

select
    shopify_order_id,
    order_gid,
    order_name,
    {{ normalize_order_ref('shopify_order_id') }} as order_ref_id,
    {{ normalize_order_ref('order_name') }} as order_ref_name,
    created_at,
    updated_at,
    processed_at,
    cancelled_at,
    cancel_reason,
    closed_at,
    currency,
    display_financial_status,
    display_fulfillment_status,
    total_amount,
    current_total_amount,
    subtotal_amount,
    current_subtotal_amount,
    received_amount,
    refunded_amount,
    has_shipping_line,
    shipping_code,
    shipping_title,
    shipping_amount,
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
    email,
    source_updated_at,
    extracted_at
from typed
