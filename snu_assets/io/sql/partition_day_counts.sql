-- rows per partition day of {table} within the window [start, end)
select partition_date::text, count(*)
from {table}
where partition_date >= %(start)s and partition_date < %(end)s
group by 1
