-- Least privilege (run by `snu-assets roles`): a writer role for the pipeline and a
-- read-only role for Metabase that sees the published tables only. Set the passwords
-- yourself afterwards (ALTER ROLE ... PASSWORD ...): they never live in this repository.
do $$
begin
    if not exists (select from pg_roles where rolname = '{writer}') then
        create role "{writer}" login;
    end if;
    if not exists (select from pg_roles where rolname = '{reader}') then
        create role "{reader}" login;
    end if;
end
$$;

-- the pipeline: everything in its schema, nothing elsewhere
grant usage, create on schema "{schema}" to "{writer}";
grant select, insert, update, delete, truncate on all tables in schema "{schema}" to "{writer}";
alter default privileges in schema "{schema}"
    grant select, insert, update, delete, truncate on tables to "{writer}";

-- Metabase: read the published tables, nothing else (not raw_patches, rejected_patches,
-- reconstructed_events: internal layers)
revoke all on all tables in schema "{schema}" from "{reader}";
grant usage on schema "{schema}" to "{reader}";
grant select on
    "{schema}".enriched_events,
    "{schema}".inscription_goals,
    "{schema}".cohorts,
    "{schema}".ref_departments,
    "{schema}".weekly_funnel,
    "{schema}".weekly_funnel_national
to "{reader}";
