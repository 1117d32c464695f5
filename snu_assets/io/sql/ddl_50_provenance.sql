-- Where the rows came from (issue #21): a run refuses to replace rows another source or
-- another pseudonym key wrote, unless told to.

-- the source of each daily partition, recorded with its rows
create table if not exists "{schema}".partition_sources (
    partition_date     date primary key,
    source_database    text not null,              -- SNU_MONGO_DB of the run that wrote the day
    source_fingerprint text not null,              -- io/mongo.py: source_fingerprint
    loaded_at          timestamptz not null default now()
);

-- the fingerprint of the pseudonym key that wrote the schema (a keyed hash of a constant,
-- never the key); one row
create table if not exists "{schema}".pseudonym_key (
    fingerprint        text not null,
    recorded_at        timestamptz not null default now(),
    only_one           boolean primary key default true check (only_one)
);
