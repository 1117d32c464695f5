-- every day's patches accounted for in PostgreSQL: rows of raw_patches plus quarantined rows
-- of rejected_patches, over the whole history
select partition_date::text, sum(n)::bigint
from (
    select partition_date, count(*) as n from "{schema}".raw_patches group by 1
    union all
    select partition_date, count(*) as n from "{schema}".rejected_patches group by 1
) as landed
group by 1
order by 1
