-- The PII audit's stream of a slice's ops and states, read through a server-side cursor
-- (snu_assets.io.audit.audit_table): the ops column and, for each state column, the column
-- and its jsonb_typeof; the slice is sampled when it is large.
select {id_column}, model, {year}, {columns} from {table} where {where}
