-- Least privilege (run by `snu-assets roles`): a writer role for the pipeline and two
-- read-only roles for Metabase. Set the passwords yourself afterwards (ALTER ROLE ...
-- PASSWORD ...): they never live in this repository.
--   {reader}: the ministry's own follow-up: pseudonymised events and exact figures
--   {public}: what may leave the ministry: the protected aggregates only
do $$
begin
    if not exists (select from pg_roles where rolname = '{writer}') then
        create role "{writer}" login;
    end if;
    if not exists (select from pg_roles where rolname = '{reader}') then
        create role "{reader}" login;
    end if;
    if not exists (select from pg_roles where rolname = '{public}') then
        create role "{public}" login;
    end if;
end
$$;

-- the pipeline: everything in its schema, nothing elsewhere
grant usage, create on schema "{schema}" to "{writer}";
grant select, insert, update, delete, truncate on all tables in schema "{schema}" to "{writer}";
alter default privileges in schema "{schema}"
    grant select, insert, update, delete, truncate on tables to "{writer}";

-- the ministry's Metabase: the published tables and the exact ones, and every question's view
-- (ddl_60_metabase_views.sql), nothing else (not raw_patches, rejected_patches,
-- reconstructed_events: internal layers)
revoke all on all tables in schema "{schema}" from "{reader}";
grant usage on schema "{schema}" to "{reader}";
grant select on
    "{schema}".enriched_events,
    "{schema}".inscription_goals,
    "{schema}".cohorts,
    "{schema}".ref_departments,
    "{schema}".weekly_funnel,
    "{schema}".weekly_funnel_national,
    "{schema}".weekly_funnel_hidden,
    "{schema}".weekly_funnel_log,
    "{schema}".vue_quotidien_par_genre,
    "{schema}".vue_quotidien_par_tranche_age,
    "{schema}".vue_quotidien_par_region,
    "{schema}".vue_avancement_par_cohorte,
    "{schema}".vue_valides_par_departement,
    "{schema}".vue_entonnoir_par_region
to "{reader}";

-- the public Metabase: the protected funnel and reference data only (no event, no exact
-- count: weekly_funnel_national and weekly_funnel_hidden would undo the protection), and the
-- views that read nothing else (never a view over enriched_events or weekly_funnel_national:
-- before PostgreSQL 15, a view reads its tables with its owner's rights)
revoke all on all tables in schema "{schema}" from "{public}";
grant usage on schema "{schema}" to "{public}";
grant select on
    "{schema}".weekly_funnel,
    "{schema}".inscription_goals,
    "{schema}".cohorts,
    "{schema}".ref_departments,
    "{schema}".vue_valides_par_departement,
    "{schema}".vue_entonnoir_par_region
to "{public}";
