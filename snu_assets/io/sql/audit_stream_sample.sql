-- The PII audit's stream of a large slice, sampled (snu_assets.io.audit.audit_table): exactly
-- %(audit_rows)s rows, those with the smallest hash of their id salted anew at each audit (a
-- random sample that is never empty, unlike a filter on hash buckets); the same columns as
-- audit_stream.sql. One pass over the slice, a top-N sort of a few rows.
select {id_column}, model, {year}, {columns} from {table} where {where}
order by hashtext({id_column}::text || %(audit_salt)s)
limit %(audit_rows)s
