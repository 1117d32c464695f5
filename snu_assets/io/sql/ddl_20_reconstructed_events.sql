-- reconstructed_events: one row per event, with the allow-listed state before and after
create table if not exists "{schema}".reconstructed_events (
    event_id        text primary key,          -- hash of (patch_id, field): stable across runs
    event_name      text not null,             -- young.created, young.status.VALIDATED ...
    model           text not null,
    record_id       text not null,
    young_id        text,
    patch_id        text not null,
    occurred_at     timestamptz not null,
    partition_date  date not null,
    before          jsonb,                     -- null when the record did not exist yet
    after           jsonb,                     -- null once the record is destroyed
    age             smallint,                  -- years at the event (birth date never stored)
    young_state     jsonb                      -- (applications) the young's allow-listed state then
);
alter table "{schema}".reconstructed_events add column if not exists young_state jsonb;
create index if not exists reconstructed_events_partition_date_idx
    on "{schema}".reconstructed_events (partition_date);
-- an application's young is now carried in young_state: the as-of index is not needed
drop index if exists "{schema}".reconstructed_events_young_asof_idx;
