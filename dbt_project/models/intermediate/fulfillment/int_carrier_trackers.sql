{{ config(meta={'scope': ['tracking_number', 'tracking_number']}) }}
{{ scope_dependencies('tracking_number') }}
-- One row per tracking number the carrier tracking API knows, with its carrier status
-- (docs/mismatch-codes.md "Terms"). When one number has several trackers, the most recently created one
-- counts.

with

trackers as (
    select * from {{ ref('stg_tracking__trackers') }}
),

latest as (
    select distinct on (tracking_code)
        tracking_code as tracking_number,
        tracker_id,
        carrier,
        status as tracker_status,
        created_at,
        updated_at,
        delivered_at
    from trackers
    where tracking_code is not null and {{ in_scope('tracking_code') }}
    order by tracking_code asc, created_at desc nulls last, tracker_id collate "C" desc
)

select
    tracking_number,
    tracker_id,
    carrier,
    tracker_status,
    -- docs/mismatch-codes.md "Terms"; a status it does not list is unknown
    case tracker_status
        when 'pre_transit' then 'pre_transit'
        when 'in_transit' then 'in_transit'
        when 'out_for_delivery' then 'out_for_delivery'
        when 'available_for_pickup' then 'out_for_delivery'
        when 'delivered' then 'delivered'
        when 'return_to_sender' then 'returned'
        when 'failure' then 'exception'
        when 'error' then 'exception'
        else 'unknown'
    end as carrier_status,
    created_at,
    updated_at,
    -- when the carrier first reported the package delivered (only while it says so)
    case when tracker_status = 'delivered' then coalesce(delivered_at, updated_at) end as delivered_at
from latest
