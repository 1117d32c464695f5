-- the text and jsonb columns of every table of a schema (where a pseudonym could be)
select c.table_name, c.column_name, c.data_type
from information_schema.columns c
join information_schema.tables t using (table_schema, table_name)
where c.table_schema = %(schema)s and t.table_type = 'BASE TABLE'
  and c.data_type in ('text', 'jsonb')
order by 1, 2
