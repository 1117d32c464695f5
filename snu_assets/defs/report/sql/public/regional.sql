-- weekly_report_public: the published regional funnel of the week per cohort x region: the region
-- totals of weekly_funnel (level 'region', every gender and age band). A hidden value is NULL
-- there (statistical disclosure control) and shown as hidden; its *_hidden flag says so. The
-- objective is the region's (its departments' objectives summed, from inscription_goals);
-- regions with an objective but no event yet are listed with zeros. Cohorts: those published
-- at the national level this week. Reads only what the role snu_public reads.
with published as (
    select cohort, region, created, completed, processed, validated, refused,
           validated_cumulated, projection  -- NULL where validated_cumulated is hidden
    from "{schema}".weekly_funnel
    where week = %(week)s and level = 'region' and gender = 'all' and age_band = 'all'
),
goals as (
    select cohort, coalesce(region, 'unknown') as region, sum(objective)::int as objective
    from "{schema}".inscription_goals
    group by 1, 2
),
national_cohorts as (
    select distinct cohort from "{schema}".weekly_funnel
    where week = %(week)s and level = 'national'
),
reference as (  -- every region of the reference, listed even without goal nor event
    select n.cohort, r.region
    from national_cohorts n
    cross join (select distinct region from "{schema}".ref_departments) r
)
select cohort, region,
       case when p.region is null then 0 else p.created end                 as created,
       (p.region is not null and p.created is null)                         as created_hidden,
       case when p.region is null then 0 else p.completed end               as completed,
       (p.region is not null and p.completed is null)                       as completed_hidden,
       case when p.region is null then 0 else p.processed end               as processed,
       (p.region is not null and p.processed is null)                       as processed_hidden,
       case when p.region is null then 0 else p.validated end               as validated,
       (p.region is not null and p.validated is null)                       as validated_hidden,
       case when p.region is null then 0 else p.refused end                 as refused,
       (p.region is not null and p.refused is null)                         as refused_hidden,
       case when p.region is null then 0 else p.validated_cumulated end     as validated_cumulated,
       (p.region is not null and p.validated_cumulated is null)             as validated_cumulated_hidden,
       g.objective,
       p.projection,
       p.region is not null                    as has_rows   -- false: no event at all yet
from published p
full join goals g using (cohort, region)
full join reference using (cohort, region)
where cohort in (select cohort from national_cohorts)
order by cohort, region
