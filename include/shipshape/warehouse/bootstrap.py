"""The warehouse's bootstrap: its schemas, the shared tables, the incremental models' bookkeeping, the
journal of deletions from raw, the console's role and its grants (DDL).

:func:`bootstrap` is idempotent and safe to run from several processes at once. It runs where a
deployment is set up, never in a task: ``shipshape warehouse up`` (``make warehouse-up``), ``make up``
(:mod:`shipshape.up`), the demo, and the tests' fixtures.
"""

from __future__ import annotations

SCHEMAS = ("raw", "staging", "intermediate", "marts", "ops")
# The mismatch console reads the warehouse as this role: SELECT on marts, ops and raw._quarantine, nothing
# else, and one write, through ops.acknowledge_quarantine. Roles are per server, grants per database.
CONSOLE_ROLE = "shipshape_console"

BOOTSTRAP_SQL = """
create schema if not exists raw;
create schema if not exists staging;
create schema if not exists intermediate;
create schema if not exists marts;
create schema if not exists ops;

-- Records a loader could not load, kept whole so they can be replayed.
create table if not exists raw._quarantine (
    id             bigserial primary key,
    source         text not null,
    stream         text not null,
    record_id      text,
    field          text,
    reason         text,
    payload        jsonb,
    run_id         text,
    quarantined_at timestamptz not null default now()
);
create index if not exists _quarantine_source_stream_idx on raw._quarantine (source, stream);

-- A person looked at a quarantined record and accepted it (the mismatch console's Data quality page):
-- the raw gate stops failing on that record; every other quarantined record still fails it. One row per
-- record, written only through ops.acknowledge_quarantine (the console's role may not insert).
create table if not exists ops.quarantine_acknowledgements (
    quarantine_id   bigint primary key references raw._quarantine (id) on delete cascade,
    acknowledged_by text not null check (btrim(acknowledged_by) <> ''),
    acknowledged_at timestamptz not null default now(),
    note            text
);

-- Incremental extraction cursors, one row per source stream.
create table if not exists ops.extraction_state (
    source      text not null,
    stream      text not null,
    cursor      jsonb,
    last_run_id text,
    updated_at  timestamptz not null default now(),
    primary key (source, stream)
);

-- Rate-limit buckets shared by the tasks that spend one account's budget (shipshape.ingest.limits).
create table if not exists ops.rate_buckets (
    key       text primary key,
    capacity  double precision not null,
    rate      double precision not null,
    available double precision not null,
    pending   double precision not null default 0,
    stamp     double precision not null
);
"""

# Incremental staging's bookkeeping (docs/incremental.md): one row per model (its as-of, marks and
# settings fingerprint), the keys each model's last run recomputed, the change log and its batches.
# dbt_project/macros/incremental_staging.sql names these relations; its on-run-start hook stops a run
# with an error naming any that is missing. Each statement is guarded by a catalog lookup, because DDL on
# an existing table takes a lock that waits for the models writing to it (a bootstrap while a run goes).
INCREMENTAL_STATE_SQL = """
do $$
declare
    bookkeeping text;
begin
    -- Until issue 18 the bookkeeping lived in staging (dbt's target schema). A warehouse built then has
    -- it moved to ops, rows and all (indexes and the log's id sequence go with their tables), so its next
    -- run stays incremental instead of restaging everything.
    foreach bookkeeping in array array['dbt_incremental_state', 'dbt_model_scope', 'dbt_changed_keys'] loop
        if to_regclass('ops.' || bookkeeping) is null and to_regclass('staging.' || bookkeeping) is not null then
            execute format('alter table staging.%I set schema ops', bookkeeping);
        end if;
    end loop;
    if to_regclass('ops.dbt_change_batches') is null and to_regclass('staging.dbt_change_batches') is not null then
        alter sequence staging.dbt_change_batches set schema ops;
    end if;

    if to_regclass('ops.dbt_incremental_state') is null then
        create table ops.dbt_incremental_state (
            model             text primary key,
            as_of             timestamptz not null,
            extracted_through timestamptz,
            change_batch      bigint,  -- consumers: the last change batch taken
            fingerprint       text,    -- the changes model: its settings when it last judged
            deletions_through bigint   -- staging: the last raw._deletions entry seen
        );
    elsif not exists (
        select from information_schema.columns
        where table_schema = 'ops' and table_name = 'dbt_incremental_state' and column_name = 'deletions_through'
    ) then
        -- a warehouse from before these columns
        alter table ops.dbt_incremental_state
            add column if not exists change_batch bigint,
            add column if not exists fingerprint text,
            add column if not exists deletions_through bigint;
    end if;
    if to_regclass('ops.dbt_model_scope') is null then
        create table ops.dbt_model_scope (model text not null, key text);
        create index dbt_model_scope_model_key on ops.dbt_model_scope (model, key);
    end if;
    if to_regclass('ops.dbt_changed_keys') is null then
        create table ops.dbt_changed_keys (log_id bigserial primary key, grain text not null, key text);
    end if;
    if to_regclass('ops.dbt_change_batches') is null then
        create sequence ops.dbt_change_batches;
    end if;
end
$$;
"""

# raw._deletions: every row deleted from a raw table (by hand: shipshape only ever inserts), so that
# incremental staging forgets a record whose every version is gone without scanning the whole table on
# each run. A statement trigger per raw table writes the deleted source_ids; a TRUNCATE writes one row
# with a null source_id. raw._journal_deletions_of(table) installs them where missing: here on every raw
# table there is, and from the loader (shipshape.ingest.loader) on its table at each load, which costs a
# catalog lookup once they are there.
DELETION_JOURNAL_SQL = r"""
create table if not exists raw._deletions (
    deletion_id bigserial primary key,
    raw_table   text not null,
    source_id   text
);

create or replace function raw._journal_deletions() returns trigger language plpgsql as $$
begin
    if tg_op = 'TRUNCATE' then
        insert into raw._deletions (raw_table, source_id) values (tg_table_name, null);
    else
        insert into raw._deletions (raw_table, source_id) select distinct tg_table_name, gone.source_id from gone;
    end if;
    return null;
end
$$;

create or replace function raw._journal_deletions_of(raw_table text) returns void language plpgsql as $$
declare
    journaled regclass := format('raw.%I', raw_table)::regclass;
begin
    if not exists (select from pg_trigger where tgrelid = journaled and tgname = 'journal_deletions') then
        execute format('create trigger journal_deletions after delete on raw.%I referencing old table as gone'
                       ' for each statement execute function raw._journal_deletions()', raw_table);
    end if;
    if not exists (select from pg_trigger where tgrelid = journaled and tgname = 'journal_truncates') then
        execute format('create trigger journal_truncates after truncate on raw.%I'
                       ' for each statement execute function raw._journal_deletions()', raw_table);
    end if;
end
$$;

select raw._journal_deletions_of(tables.relname)
from pg_class as tables
inner join pg_namespace as schemas on tables.relnamespace = schemas.oid
where schemas.nspname = 'raw' and tables.relkind = 'r' and tables.relname not like '\_%';
"""

# The console's role, made once per server (a LOGIN role without a password: on a server that asks for
# one, give it a password and set AIRFLOW_CONN_SHIPSHAPE_CONSOLE). Creating roles needs CREATEROLE; a
# warehouse user without it gets a notice, and the console then needs that connection to a role an
# administrator made. Default privileges cover what this user creates later (dbt's marts, the ops tables).
CONSOLE_SQL = f"""
do $console$
begin
    if not exists (select from pg_roles where rolname = '{CONSOLE_ROLE}') then
        begin
            create role {CONSOLE_ROLE} login nosuperuser nocreatedb nocreaterole noinherit;
        exception
            when duplicate_object or unique_violation then null;  -- another database's bootstrap won
            when insufficient_privilege then
                raise notice 'shipshape: cannot create the console role {CONSOLE_ROLE} (no CREATEROLE)';
                return;
        end;
    end if;
    -- once per server: ALTER ROLE from two bootstraps at once (parallel test workers, two databases)
    -- fails with "tuple concurrently updated"
    if not exists (select from pg_db_role_setting as s join pg_roles as r on r.oid = s.setrole
                   where r.rolname = '{CONSOLE_ROLE}' and s.setdatabase = 0
                   and 'default_transaction_read_only=on' = any(s.setconfig)) then
        begin
            alter role {CONSOLE_ROLE} set default_transaction_read_only = on;
        exception when insufficient_privilege or internal_error then null;  -- the other one set it
        end;
    end if;
    grant usage on schema marts, ops, raw to {CONSOLE_ROLE};
    grant select on all tables in schema marts, ops to {CONSOLE_ROLE};
    grant select on raw._quarantine to {CONSOLE_ROLE};
    alter default privileges in schema marts, ops grant select on tables to {CONSOLE_ROLE};
    grant execute on function ops.acknowledge_quarantine(bigint, text, text) to {CONSOLE_ROLE};
exception when insufficient_privilege then
    raise notice 'shipshape: cannot grant the console role {CONSOLE_ROLE} its reads (%)', sqlerrm;
end
$console$;
"""

# The one write the console makes: a person acknowledges a quarantined record. SECURITY DEFINER, so the
# console's role needs no INSERT on any table; it checks the record exists and names it when it does not.
ACKNOWLEDGE_SQL = """
create or replace function ops.acknowledge_quarantine(record bigint, who text, note text default null)
returns ops.quarantine_acknowledgements
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
    acknowledged ops.quarantine_acknowledgements;
begin
    if who is null or btrim(who) = '' then
        raise exception 'acknowledging raw._quarantine id %: acknowledged_by is empty', record;
    end if;
    if not exists (select from raw._quarantine as q where q.id = record) then
        raise exception 'raw._quarantine has no record with id %', record;
    end if;
    insert into ops.quarantine_acknowledgements (quarantine_id, acknowledged_by, note)
    values (record, btrim(who), nullif(btrim(note), ''))
    on conflict (quarantine_id) do nothing;  -- acknowledged already: the first acknowledgement stands
    select * into acknowledged from ops.quarantine_acknowledgements where quarantine_id = record;
    return acknowledged;
end $$;
revoke all on function ops.acknowledge_quarantine(bigint, text, text) from public;
"""


def bootstrap(url: str) -> None:
    """Create the warehouse's schemas, shared tables, bookkeeping and deletion journal in ``url`` and
    grant the console its reads, idempotently and race-free."""
    import psycopg

    with psycopg.connect(url, connect_timeout=10) as conn:
        # Concurrent `create schema if not exists` can still collide; serialise bootstraps.
        conn.execute("select pg_advisory_xact_lock(hashtext('shipshape.warehouse.bootstrap'))")
        conn.execute(BOOTSTRAP_SQL)
        conn.execute(INCREMENTAL_STATE_SQL)
        conn.execute(DELETION_JOURNAL_SQL)
        conn.execute(ACKNOWLEDGE_SQL)
        conn.execute(CONSOLE_SQL)


def set_console_password(url: str, password: str) -> None:
    """Give the console's role ``password`` (as the warehouse's owner at ``url``), for a server that asks
    for one: ``shipshape console`` does this with the password of ``AIRFLOW_CONN_SHIPSHAPE_CONSOLE`` when
    that connection logs in as the role (docker-compose.yaml's console service)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("alter role {} password {}").format(sql.Identifier(CONSOLE_ROLE), sql.Literal(password)))
