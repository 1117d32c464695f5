-- The rows of a slice the PII audit covers (snu_assets.io.audit.audit_table).
select count(*) from {table} where {where}
