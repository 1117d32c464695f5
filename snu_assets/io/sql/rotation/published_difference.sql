-- rows of {table} that differ between the current schema and the rebuilt one (both ways)
select count(*) from (
    (select {columns} from "{schema}".{table} except all select {columns} from "{shadow}".{table})
    union all
    (select {columns} from "{shadow}".{table} except all select {columns} from "{schema}".{table})
) as difference
