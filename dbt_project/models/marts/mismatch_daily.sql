-- What a BI dashboard charts: one row per day (UTC) x code x currency, from the first day mismatch_history
-- saw anything to the day of var('as_of'): episodes open at the end of the day (at as_of on its own day),
-- opened and resolved that day, and the money at risk of the open ones. Money is summed within one
-- currency only; mismatches without money (ORPHAN_PAYMENT, INVENTORY_MISMATCH) carry 0, and SKU
-- mismatches, which have no currency, are under 'XXX' (ISO 4217's "no currency").

with

history as (
    select
        *,
        coalesce(currency, 'XXX') as currency_code
    from {{ ref('mismatch_history') }}
    where first_seen_at <= {{ as_of() }}
),

days as (
    select generate_series(
        (select min((first_seen_at at time zone 'UTC')::date) from history),
        ({{ as_of() }} at time zone 'UTC')::date,
        interval '1 day'
    )::date as day  -- noqa: RF04
),

keys as (
    select distinct
        code,
        currency_code
    from history
),

grid as (
    select
        days.day,
        keys.code,
        keys.currency_code,
        (days.day::timestamp at time zone 'UTC') as day_start,
        ((days.day + 1)::timestamp at time zone 'UTC') as next_day_start,
        least(((days.day + 1)::timestamp at time zone 'UTC'), {{ as_of() }}) as day_end
    from days
    cross join keys
)

select
    grid.day,
    grid.code,
    grid.currency_code as currency,
    count(history.episode_id) filter (
        where
        history.first_seen_at <= grid.day_end
        and (history.resolved_at is null or history.resolved_at > grid.day_end)
    ) as open_count,
    count(history.episode_id) filter (
        where history.first_seen_at >= grid.day_start and history.first_seen_at < grid.next_day_start
    ) as opened_count,
    count(history.episode_id) filter (
        where
        history.resolved_at >= grid.day_start and history.resolved_at < grid.next_day_start
        and history.resolved_at <= {{ as_of() }}
    ) as resolved_count,
    coalesce(sum(history.amount_at_risk) filter (
        where
        history.first_seen_at <= grid.day_end
        and (history.resolved_at is null or history.resolved_at > grid.day_end)
    ), 0) as amount_at_risk,
    {{ as_of() }} as as_of
from grid
left join history
    on
        grid.code = history.code
        and grid.currency_code = history.currency_code
group by grid.day, grid.code, grid.currency_code
