-- The PII audit's plain text columns (snu_assets.io.audit.audit_table): each distinct
-- (reference year, column, value) of the slice once, with one row holding it; the values
-- list holds ('column', column::text) for each column read.
select min({id_column}), {year}, v.col, v.value
from {table}
cross join lateral (values {values}) v(col, value)
where {where} and v.value is not null
group by 2, 3, 4
