{{ config(materialized='view') }}

-- One row per tracking number on a Stripe Charge's shipping.tracking_number (a comma-separated list),
-- normalised (trimmed, upper case); blanks dropped, repeats kept once.
with

numbers as (
    select
        charges.charge_id,
        charges.payment_intent_id,
        {{ normalize_tracking('listed.tracking_number') }} as tracking_number,
        listed.position
    from {{ ref('stg_stripe__charges') }} as charges
    cross join
        lateral unnest(
            string_to_array(charges.shipping_tracking_number, ',')
        ) with ordinality as listed (tracking_number, position)
)

select distinct on (charge_id, tracking_number)
    charge_id,
    payment_intent_id,
    tracking_number,
    position
from numbers
where tracking_number is not null
order by charge_id asc, tracking_number asc, position asc
