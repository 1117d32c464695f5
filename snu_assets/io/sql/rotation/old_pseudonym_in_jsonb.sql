-- rows of {table} whose jsonb column {column} holds, at any depth, a pseudonym of the old key
select count(*)
from {table} t
cross join lateral jsonb_path_query(t."{column}", 'strict $.**') as v(value)
join old_pseudonyms o on o.id = v.value #>> '{}'
where jsonb_typeof(v.value) = 'string'
