-- The regulator's questions (docs/metabase.md) as views a Metabase user picks by name: vue_*,
-- one per question, after the tables they read. Their descriptions are in comments.toml, their
-- grants in roles.sql:
--   snu_reader (the ministry): every view;
--   snu_public (what may leave the ministry): the views over weekly_funnel and the reference
--   tables only (vue_valides_par_departement, vue_entonnoir_par_region); a view over an exact
--   table (enriched_events, weekly_funnel_national) must never be granted to it.
-- Every region (and department) of the reference is listed, 0 where it has no event; a value
-- hidden in weekly_funnel stays NULL (never 0, never summed). A region or department that has
-- no row in weekly_funnel for a cohort has no event of that cohort up to the week's end (the
-- publication writes every place with a cumulated count), so its 0 is exact and no secret.
-- `create or replace view` keeps the grants; it can only add columns at the end (renaming or
-- dropping one needs a `drop view` here, and `snu-assets roles` again for the grants).

-- Créés et validés par jour et par genre (exact: snu_reader)
create or replace view "{schema}".vue_quotidien_par_genre as
select event_day                                                            as day,
       coalesce(gender, 'unknown')                                          as gender,
       (count(*) filter (where event_name = 'young.created'))::int          as created,
       (count(*) filter (where event_name = 'young.status.VALIDATED'))::int as validated
from "{schema}".enriched_events
where model = 'young'
  and event_name in ('young.created', 'young.status.VALIDATED')
group by 1, 2
order by 1, 2;

-- Créés et validés par jour et par tranche d'âge (exact: snu_reader)
create or replace view "{schema}".vue_quotidien_par_tranche_age as
select event_day                                                            as day,
       coalesce(age_band, 'unknown')                                        as age_band,
       (count(*) filter (where event_name = 'young.created'))::int          as created,
       (count(*) filter (where event_name = 'young.status.VALIDATED'))::int as validated
from "{schema}".enriched_events
where model = 'young'
  and event_name in ('young.created', 'young.status.VALIDATED')
group by 1, 2
order by 1, 2;

-- Créés et validés par jour et par région (exact: snu_reader): every region of the reference
-- on every day that has an event, 0 where it has none
create or replace view "{schema}".vue_quotidien_par_region as
with events as (
    select event_day, coalesce(region, 'unknown') as region, event_name
    from "{schema}".enriched_events
    where model = 'young'
      and event_name in ('young.created', 'young.status.VALIDATED')
),
days as (
    select distinct event_day from events
),
regions as (
    select region from "{schema}".ref_departments
    union
    select region from events
)
select d.event_day                                                                  as day,
       r.region,
       (count(e.event_name) filter (where e.event_name = 'young.created'))::int          as created,
       (count(e.event_name) filter (where e.event_name = 'young.status.VALIDATED'))::int as validated
from days d
cross join regions r
left join events e on e.event_day = d.event_day and e.region = r.region
group by 1, 2
order by 1, 2;

-- Avancement hebdomadaire par rapport aux objectifs, par cohorte (exact: snu_reader)
create or replace view "{schema}".vue_avancement_par_cohorte as
with national as (
    select week, cohort,
           sum(validated)::int           as validated,
           sum(validated_cumulated)::int as validated_cumulated,
           sum(projection)               as projection
    from "{schema}".weekly_funnel_national
    group by week, cohort
),
goals as (
    select cohort, sum(objective)::int as objective
    from "{schema}".inscription_goals
    group by cohort
)
select n.week,
       n.cohort,
       n.validated,
       n.validated_cumulated,
       g.objective,
       round(100.0 * n.validated_cumulated / nullif(g.objective, 0), 1) as progress_pct,
       n.projection,
       round(100.0 * n.projection / nullif(g.objective, 0), 1)          as projected_pct
from national n
left join goals g using (cohort)
order by n.week, n.cohort;

-- Validés par département par rapport à l'objectif (published: snu_public and snu_reader): the
-- latest week of weekly_funnel, each department's own row (every gender, every age band), and
-- 0 for every department of the reference (or of the goals) without a row, for every cohort
-- published or with goals
create or replace view "{schema}".vue_valides_par_departement as
with latest as (
    select max(week) as week from "{schema}".weekly_funnel
),
published as (
    select f.cohort, f.region, f.department, f.validated_cumulated
    from "{schema}".weekly_funnel f
    join latest l on f.week = l.week
    where f.level = 'department' and f.gender = 'all' and f.age_band = 'all'
),
cohorts as (
    select cohort from published
    union
    select cohort from "{schema}".inscription_goals
),
without_row as (
    -- one region per department: the reference's, else the goals'
    select distinct on (p.cohort, p.department) p.cohort, p.department, p.region
    from (
        select c.cohort, r.department, r.region, 1 as source
        from cohorts c cross join "{schema}".ref_departments r
        union all
        select cohort, department, region, 2 from "{schema}".inscription_goals
    ) p
    where not exists (
        select from published f where f.cohort = p.cohort and f.department = p.department
    )
    order by p.cohort, p.department, p.region is null, p.source
),
shown as (
    select cohort, region, department, validated_cumulated,
           validated_cumulated is null as suppressed   -- hidden: stays NULL
    from published
    union all
    select cohort, coalesce(region, 'unknown'), department, 0, false
    from without_row
)
select l.week,
       s.cohort,
       s.region,
       s.department,
       s.validated_cumulated,
       s.suppressed,
       g.objective,
       round(100.0 * s.validated_cumulated / nullif(g.objective, 0), 1) as progress_pct
from shown s
cross join latest l
left join "{schema}".inscription_goals g using (cohort, department)
where l.week is not null
order by s.cohort, s.region, s.department;

-- Entonnoir publié par région (published: snu_public and snu_reader): the latest week of
-- weekly_funnel, each region's own row (every gender, every age band), and 0 for every region
-- of the reference (or of the goals) without a row, for every cohort published or with goals
create or replace view "{schema}".vue_entonnoir_par_region as
with latest as (
    select max(week) as week from "{schema}".weekly_funnel
),
published as (
    select f.week, f.cohort, f.region,
           f.created, f.completed, f.processed, f.validated, f.refused,
           f.validated_cumulated, f.objective, f.projection
    from "{schema}".weekly_funnel f
    join latest l on f.week = l.week
    where f.level = 'region' and f.gender = 'all' and f.age_band = 'all'
),
goals as (
    select cohort, coalesce(region, 'unknown') as region, sum(objective)::int as objective
    from "{schema}".inscription_goals
    group by 1, 2
),
cohorts as (
    select cohort from published
    union
    select cohort from goals
),
without_row as (
    select p.cohort, p.region
    from (
        select c.cohort, r.region
        from cohorts c cross join (select distinct region from "{schema}".ref_departments) r
        union
        select cohort, region from goals
    ) p
    where not exists (select from published f where f.cohort = p.cohort and f.region = p.region)
),
shown as (
    select week, cohort, region, created, completed, processed, validated, refused,
           validated_cumulated, objective, projection
    from published
    union all
    -- no event of the cohort there up to the week's end: every count 0, and the projection
    -- the publication gives a cumulated 0 (weekly_views: none without the cohort's calendar
    -- or before its inscriptions open)
    select l.week, w.cohort, w.region, 0, 0, 0, 0, 0, 0, g.objective,
           case when c.inscription_start is not null and c.inscription_end is not null
                     and (l.week + 7 > c.inscription_start or l.week + 7 >= c.inscription_end)
                then 0 end
    from without_row w
    cross join latest l
    left join goals g using (cohort, region)
    left join "{schema}".cohorts c using (cohort)
    where l.week is not null
)
select week,
       cohort,
       region,
       created,
       completed,
       processed,
       validated,
       refused,
       validated_cumulated,
       objective,
       round(100.0 * validated_cumulated / nullif(objective, 0), 1) as progress_pct,
       projection::numeric(12, 1)                                   as projection,
       (created is null or completed is null or processed is null or validated is null
        or refused is null or validated_cumulated is null)          as suppressed
from shown
order by cohort, region;

-- PostgreSQL 15 and later: a view reads its tables with the privileges of who queries it, not
-- of its owner, so a view granted by mistake still gives a role nothing its tables do not
do $$
begin
    if current_setting('server_version_num')::int >= 150000 then
        alter view "{schema}".vue_quotidien_par_genre set (security_invoker = true);
        alter view "{schema}".vue_quotidien_par_tranche_age set (security_invoker = true);
        alter view "{schema}".vue_quotidien_par_region set (security_invoker = true);
        alter view "{schema}".vue_avancement_par_cohorte set (security_invoker = true);
        alter view "{schema}".vue_valides_par_departement set (security_invoker = true);
        alter view "{schema}".vue_entonnoir_par_region set (security_invoker = true);
    end if;
end
$$;
