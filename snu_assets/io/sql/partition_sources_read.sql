-- the sources recorded for the days of the window [start, end)
select partition_date::text, source_database, source_fingerprint
from "{schema}".partition_sources
where partition_date >= %(start)s and partition_date < %(end)s
order by 1
