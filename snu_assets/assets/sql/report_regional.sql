-- weekly_report: the published regional funnel of the week per cohort x region (weekly_funnel
-- summed over department x gender x age band). weekly_funnel hides counts of 1 .. k-1 as NULL:
-- each sum below is the sum of the published cells and its *_hidden flag tells whether a
-- hidden cell was left out (then the sum is a lower bound, shown as such). The objective is
-- the region's (its departments' objectives summed, from inscription_goals); regions with an
-- objective but no event yet are listed with zeros. Cohorts: those of the national view.
with published as (
    select cohort, region,
           sum(created) as created,                         bool_or(created is null) as created_hidden,
           sum(completed) as completed,                     bool_or(completed is null) as completed_hidden,
           sum(processed) as processed,                     bool_or(processed is null) as processed_hidden,
           sum(validated) as validated,                     bool_or(validated is null) as validated_hidden,
           sum(refused) as refused,                         bool_or(refused is null) as refused_hidden,
           sum(validated_cumulated) as validated_cumulated, bool_or(validated_cumulated is null) as validated_cumulated_hidden,
           sum(projection) as projection  -- NULL where validated_cumulated is hidden
    from "{schema}".weekly_funnel
    where week = %(week)s
    group by cohort, region
),
goals as (
    select cohort, coalesce(region, 'unknown') as region, sum(objective)::int as objective
    from "{schema}".inscription_goals
    group by 1, 2
),
national_cohorts as (
    select distinct cohort from "{schema}".weekly_funnel_national where week = %(week)s
)
select cohort, region,
       coalesce(p.created, 0)::int             as created,
       coalesce(p.created_hidden, false)       as created_hidden,
       coalesce(p.completed, 0)::int           as completed,
       coalesce(p.completed_hidden, false)     as completed_hidden,
       coalesce(p.processed, 0)::int           as processed,
       coalesce(p.processed_hidden, false)     as processed_hidden,
       coalesce(p.validated, 0)::int           as validated,
       coalesce(p.validated_hidden, false)     as validated_hidden,
       coalesce(p.refused, 0)::int             as refused,
       coalesce(p.refused_hidden, false)       as refused_hidden,
       coalesce(p.validated_cumulated, 0)::int as validated_cumulated,
       coalesce(p.validated_cumulated_hidden, false) as validated_cumulated_hidden,
       g.objective,
       p.projection,
       p.region is not null                    as has_rows   -- false: no event at all yet
from published p
full join goals g using (cohort, region)
where cohort in (select cohort from national_cohorts)
order by cohort, region
