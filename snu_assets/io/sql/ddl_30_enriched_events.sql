-- reference of French departments, regions and academies (loaded from reference/geography.csv)
create table if not exists "{schema}".ref_departments (
    department_code text primary key,
    department      text not null unique,
    region          text not null,
    academy         text not null
);

-- enriched_events: the events plus plain columns for dashboards, JSONB states kept beside
create table if not exists "{schema}".enriched_events (
    event_id        text primary key,
    event_name      text not null,
    model           text not null,
    record_id       text not null,
    young_id        text,
    patch_id        text not null,
    occurred_at     timestamptz not null,
    partition_date  date not null,
    event_day       date not null,             -- calendar day in SNU_TIMEZONE
    event_week      date not null,             -- Monday of event_day's ISO week
    status_before   text,
    status_after    text,
    cohort          text,
    gender          text,
    age             smallint,                  -- full years at the event
    age_band        text,                      -- <15, 15, 16, 17, 18+
    department_code text,
    department      text,
    region          text,
    academy         text,
    grade           text,
    qpv             boolean,
    source          text,
    before          jsonb,
    after           jsonb,
    author_role     text,                      -- role of who made the change
    impersonator_role text                     -- role of an admin acting as them, if any
);
-- tables created before impersonation was kept
alter table "{schema}".enriched_events add column if not exists author_role text;
alter table "{schema}".enriched_events add column if not exists impersonator_role text;
create index if not exists enriched_events_partition_date_idx on "{schema}".enriched_events (partition_date);
create index if not exists enriched_events_week_idx on "{schema}".enriched_events (event_week, cohort);
