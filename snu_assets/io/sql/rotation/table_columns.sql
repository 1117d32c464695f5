-- the columns of a table, in order
select column_name from information_schema.columns
where table_schema = %(schema)s and table_name = %(table)s
order by ordinal_position
