insert into "{schema}".weekly_funnel_national
{funnel_events}
, cells as (
    select cohort, gender, age_band,
           sum(created)   filter (where week = %(week)s) as created,
           sum(completed) filter (where week = %(week)s) as completed,
           sum(processed) filter (where week = %(week)s) as processed,
           sum(validated) filter (where week = %(week)s) as validated,
           sum(refused)   filter (where week = %(week)s) as refused,
           sum(created) as created_cumulated, sum(completed) as completed_cumulated,
           sum(processed) as processed_cumulated, sum(validated) as validated_cumulated,
           sum(refused) as refused_cumulated
    from funnel_events
    group by cohort, gender, age_band
),
goals as (
    select cohort, sum(objective)::int as objective from "{schema}".inscription_goals group by cohort
)
select %(week)s::date, c.cohort, c.gender, c.age_band,
       coalesce(c.created, 0), coalesce(c.completed, 0), coalesce(c.processed, 0),
       coalesce(c.validated, 0), coalesce(c.refused, 0),
       c.created_cumulated, c.completed_cumulated, c.processed_cumulated,
       c.validated_cumulated, c.refused_cumulated,
       g.objective,
       {projection}
from cells c
left join goals g on g.cohort = c.cohort
left join "{schema}".cohorts k on k.cohort = c.cohort
-- cells with no funnel event at all since the cohort opened are left out
where c.created_cumulated + c.completed_cumulated + c.processed_cumulated
      + c.validated_cumulated + c.refused_cumulated > 0
