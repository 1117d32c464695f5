insert into "{schema}".weekly_funnel
{funnel_events}
, cells as (
    select cohort, region, department, gender, age_band,
           sum(created)   filter (where week = %(week)s) as created,
           sum(completed) filter (where week = %(week)s) as completed,
           sum(processed) filter (where week = %(week)s) as processed,
           sum(validated) filter (where week = %(week)s) as validated,
           sum(refused)   filter (where week = %(week)s) as refused,
           sum(created) as created_cumulated, sum(completed) as completed_cumulated,
           sum(processed) as processed_cumulated, sum(validated) as validated_cumulated,
           sum(refused) as refused_cumulated
    from funnel_events
    group by cohort, region, department, gender, age_band
),
exact as (
select %(week)s::date as week, c.cohort, c.region, c.department, c.gender, c.age_band,
       coalesce(c.created, 0) as created, coalesce(c.completed, 0) as completed,
       coalesce(c.processed, 0) as processed, coalesce(c.validated, 0) as validated,
       coalesce(c.refused, 0) as refused,
       c.created_cumulated, c.completed_cumulated, c.processed_cumulated,
       c.validated_cumulated, c.refused_cumulated,
       g.objective,
       {projection} as projection
from cells c
left join "{schema}".inscription_goals g on g.cohort = c.cohort and g.department = c.department
left join "{schema}".cohorts k on k.cohort = c.cohort
-- cells with no funnel event at all since the cohort opened are left out
where c.created_cumulated + c.completed_cumulated + c.processed_cumulated
      + c.validated_cumulated + c.refused_cumulated > 0
)
-- small-cell suppression: a count of 1 .. k-1 in a published cell could single a young out
-- (one refused 17-year-old in a small department): it is published as NULL and the row
-- flagged. National figures (weekly_funnel_national) stay exact.
select week, cohort, region, department, gender, age_band,
       case when created between 1 and %(k)s - 1 then null else created end,
       case when completed between 1 and %(k)s - 1 then null else completed end,
       case when processed between 1 and %(k)s - 1 then null else processed end,
       case when validated between 1 and %(k)s - 1 then null else validated end,
       case when refused between 1 and %(k)s - 1 then null else refused end,
       case when created_cumulated between 1 and %(k)s - 1 then null else created_cumulated end,
       case when completed_cumulated between 1 and %(k)s - 1 then null else completed_cumulated end,
       case when processed_cumulated between 1 and %(k)s - 1 then null else processed_cumulated end,
       case when validated_cumulated between 1 and %(k)s - 1 then null else validated_cumulated end,
       case when refused_cumulated between 1 and %(k)s - 1 then null else refused_cumulated end,
       objective,
       case when validated_cumulated between 1 and %(k)s - 1 then null else projection end,
       (least(nullif(created, 0), nullif(completed, 0), nullif(processed, 0),
              nullif(validated, 0), nullif(refused, 0), nullif(created_cumulated, 0),
              nullif(completed_cumulated, 0), nullif(processed_cumulated, 0),
              nullif(validated_cumulated, 0), nullif(refused_cumulated, 0)) < %(k)s) is true
from exact
