-- the grants on the current schema, its tables and its views (the Metabase questions) to other
-- roles than the owner, as statements replayed on the rebuilt schema before the swap (readers
-- keep their access)
select format('grant %%s on schema %%I to %%I', a.privilege_type, %(shadow)s::text, r.rolname)
from pg_namespace n
cross join lateral aclexplode(n.nspacl) a
join pg_roles r on r.oid = a.grantee
where n.nspname = %(schema)s::text and a.grantee <> n.nspowner
union all
select format('grant %%s on %%I.%%I to %%I', g.privilege_type, %(shadow)s::text, g.table_name, g.grantee)
from information_schema.role_table_grants g
join information_schema.tables t using (table_schema, table_name)
where g.table_schema = %(schema)s::text and g.grantee not in (select tableowner from pg_tables where schemaname = %(schema)s::text)
  and t.table_type in ('BASE TABLE', 'VIEW')
  and exists (select 1 from information_schema.tables s where s.table_schema = %(shadow)s::text and s.table_name = g.table_name)
