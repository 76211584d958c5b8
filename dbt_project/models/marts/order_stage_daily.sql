-- Lead times per day (UTC) and stage, for the console's "Processing vs fulfillment" page: how many orders
-- finished each stage that day and how long the stage took them (hours: mean, median, 90th percentile,
-- longest). A stage finishes on the day of its end: sent to the 3PL for placed -> sent, shipped for sent ->
-- shipped, delivered for shipped -> delivered. Only what happened at or before var('as_of') is in the
-- stage timestamps, so a rerun at the same as-of gives the same rows.

with

stages as (
    select * from {{ ref('fct_order_stages') }}
),

durations as (
    select
        'placed_to_sent' as stage,  -- noqa: RF04
        sent_to_3pl_at as finished_at,
        placed_to_sent_hours as hours
    from stages
    where placed_to_sent_hours is not null
    union all
    select
        'sent_to_shipped' as stage,  -- noqa: RF04
        shipped_at as finished_at,
        sent_to_shipped_hours as hours
    from stages
    where sent_to_shipped_hours is not null
    union all
    select
        'shipped_to_delivered' as stage,  -- noqa: RF04
        delivered_at as finished_at,
        shipped_to_delivered_hours as hours
    from stages
    where shipped_to_delivered_hours is not null
)

select
    (finished_at at time zone 'UTC')::date as day,  -- noqa: RF04
    stage,
    count(*) as orders,
    avg(hours) as mean_hours,
    percentile_cont(0.5) within group (order by hours) as median_hours,
    percentile_cont(0.9) within group (order by hours) as p90_hours,
    max(hours) as max_hours,
    {{ as_of() }} as as_of
from durations
group by (finished_at at time zone 'UTC')::date, stage
