-- the key's fingerprint: recorded by the first run that writes the schema, else the one
-- recorded then (one statement: the select does not see the insert)
with recorded as (
    insert into "{schema}".pseudonym_key (fingerprint) values (%(fingerprint)s)
    on conflict (only_one) do nothing
    returning fingerprint
)
select fingerprint from recorded
union all
select fingerprint from "{schema}".pseudonym_key
