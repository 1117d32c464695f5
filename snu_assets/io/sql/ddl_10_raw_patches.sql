-- raw_patches: one row per patch, personal data stripped at extraction (see privacy/allowlist.py)
create table if not exists "{schema}".raw_patches (
    patch_id        text primary key,          -- keyed hash of the patch's ObjectId
    model           text not null,             -- young | application
    record_id       text not null,             -- pseudonym of the patched record (ref)
    young_id        text,                      -- pseudonym of the young concerned
    occurred_at     timestamptz not null,
    partition_date  date not null,             -- day of occurred_at in SNU_TIMEZONE
    ops             jsonb not null,            -- allow-listed JSON Patch ops only
    author_role     text not null,             -- the author's role, nothing else of them
    impersonator_role text,                    -- role of an admin acting as the author
    redacted_values integer not null default 0 -- allow-listed values that looked personal
);
-- tables created before impersonation was kept
alter table "{schema}".raw_patches add column if not exists impersonator_role text;
create index if not exists raw_patches_partition_date_idx on "{schema}".raw_patches (partition_date);

create table if not exists "{schema}".rejected_patches (
    patch_id        text not null,
    model           text not null,
    occurred_at     timestamptz,
    partition_date  date not null,
    reason          text not null,             -- never quotes a value of the document
    primary key (partition_date, patch_id)
);
