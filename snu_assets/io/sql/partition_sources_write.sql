-- record the source of every day of the window [start, end) (in the swap's transaction)
insert into "{schema}".partition_sources (partition_date, source_database, source_fingerprint)
select day::date, %(database)s, %(fingerprint)s
from generate_series(%(start)s::date, %(end)s::date - 1, interval '1 day') as day
on conflict (partition_date) do update
set source_database = excluded.source_database,
    source_fingerprint = excluded.source_fingerprint,
    loaded_at = now()
