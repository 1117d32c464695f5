-- weekly_report_restricted: the exact regional funnel of the week per cohort x region: the
-- region totals of weekly_funnel (level 'region', every gender and age band) with their hidden
-- values put back from weekly_funnel_hidden (ministry only). *_hidden: the value is hidden
-- in the public edition. The objective is the region's (its departments' objectives summed,
-- from inscription_goals); regions with an objective but no event yet are listed with zeros.
-- Cohorts: those of the exact national view.
with published as (
    select cohort, region, created, completed, processed, validated, refused,
           validated_cumulated, projection
    from "{schema}".weekly_funnel
    where week = %(week)s and level = 'region' and gender = 'all' and age_band = 'all'
),
hidden as (
    select cohort, region,
           max(exact_value) filter (where measure = 'created') as created,
           max(exact_value) filter (where measure = 'completed') as completed,
           max(exact_value) filter (where measure = 'processed') as processed,
           max(exact_value) filter (where measure = 'validated') as validated,
           max(exact_value) filter (where measure = 'refused') as refused,
           max(exact_value) filter (where measure = 'validated_cumulated') as validated_cumulated
    from "{schema}".weekly_funnel_hidden
    where week = %(week)s and level = 'region' and gender = 'all' and age_band = 'all'
    group by cohort, region
),
goals as (
    select cohort, coalesce(region, 'unknown') as region, sum(objective)::int as objective
    from "{schema}".inscription_goals
    group by 1, 2
),
national_cohorts as (
    select distinct cohort from "{schema}".weekly_funnel_national where week = %(week)s
),
reference as (  -- every region of the reference, listed even without goal nor event
    select n.cohort, r.region
    from national_cohorts n
    cross join (select distinct region from "{schema}".ref_departments) r
)
select cohort, region,
       coalesce(p.created, h.created, 0) as created,
       coalesce(h.created is not null, false) as created_hidden,
       coalesce(p.completed, h.completed, 0) as completed,
       coalesce(h.completed is not null, false) as completed_hidden,
       coalesce(p.processed, h.processed, 0) as processed,
       coalesce(h.processed is not null, false) as processed_hidden,
       coalesce(p.validated, h.validated, 0) as validated,
       coalesce(h.validated is not null, false) as validated_hidden,
       coalesce(p.refused, h.refused, 0) as refused,
       coalesce(h.refused is not null, false) as refused_hidden,
       coalesce(p.validated_cumulated, h.validated_cumulated, 0) as validated_cumulated,
       coalesce(h.validated_cumulated is not null, false) as validated_cumulated_hidden,
       g.objective,
       p.projection,
       p.region is not null                    as has_rows   -- false: no event at all yet
from published p
left join hidden h using (cohort, region)
full join goals g using (cohort, region)
full join reference using (cohort, region)
where cohort in (select cohort from national_cohorts)
order by cohort, region
