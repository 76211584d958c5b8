{{ config(meta={'scope': ['shipment', 'shipment_id']}) }}
{{ scope_dependencies('shipment') }}
-- One row per ShipHero shipment: its labels' tracking numbers, and what the carrier says about it
-- (docs/mismatch-codes.md "Terms"):
--   carrier_status: the carrier status of the shipment's most recent label (by creation, then
--     ShipHero id); `none` when the shipment has no label or the label's number has no tracker.
--   is_delivered: the shipment has labels and the carrier says every one of them is delivered.
-- Labels count whatever their status (a voided label's number still names the parcel).

with

shipments as (
    select * from {{ ref('stg_shiphero__shipments') }}
    where {{ in_scope('shipment_id') }}
),

labels as (
    select * from {{ ref('stg_shiphero__shipping_labels') }}
    where {{ in_scope('shipment_id') }}
),

trackers as (
    select * from {{ ref('int_carrier_trackers') }}
),

labelled as (
    select
        labels.shipment_id,
        labels.label_id,
        labels.legacy_id as label_legacy_id,
        labels.created_at,
        labels.tracking_number,
        trackers.carrier_status,
        trackers.delivered_at as tracker_delivered_at
    from labels
    left join trackers
        on labels.tracking_number = trackers.tracking_number
),

latest_label as (
    select distinct on (shipment_id)
        shipment_id,
        coalesce(carrier_status, 'none') as carrier_status
    from labelled
    order by shipment_id asc, created_at desc nulls last, label_legacy_id desc nulls last, label_id desc
),

label_summary as (
    select
        shipment_id,
        count(*) as label_count,
        jsonb_agg(tracking_number order by created_at, label_legacy_id, label_id)
        filter (where tracking_number is not null) as tracking_numbers,
        bool_and(coalesce(carrier_status = 'delivered', false)) as all_labels_delivered,
        max(tracker_delivered_at) as last_delivered_at
    from labelled
    group by shipment_id
)

select
    shipments.shipment_id,
    shipments.shiphero_order_id,
    shipments.created_at,
    shipments.legacy_id as shipment_legacy_id,
    coalesce(label_summary.label_count, 0) as label_count,
    coalesce(label_summary.tracking_numbers, '[]') as tracking_numbers,
    coalesce(latest_label.carrier_status, 'none') as carrier_status,
    coalesce(label_summary.all_labels_delivered, false) as is_delivered,
    case when label_summary.all_labels_delivered then label_summary.last_delivered_at end as delivered_at
from shipments
left join label_summary
    on shipments.shipment_id = label_summary.shipment_id
left join latest_label
    on shipments.shipment_id = latest_label.shipment_id
