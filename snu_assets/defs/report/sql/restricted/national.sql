-- weekly_report_restricted: the week's national funnel per cohort, exact (weekly_funnel_national summed
-- over gender x age band). The objective is the cohort's national one, repeated on each row
-- of the view (max, not sum); the projection of a cohort is the sum of its rows'.
select cohort,
       sum(created)::int             as created,
       sum(completed)::int           as completed,
       sum(processed)::int           as processed,
       sum(validated)::int           as validated,
       sum(refused)::int             as refused,
       sum(created_cumulated)::int   as created_cumulated,
       sum(validated_cumulated)::int as validated_cumulated,
       max(objective)                as objective,
       sum(projection)               as projection
from "{schema}".weekly_funnel_national
left join "{schema}".cohorts using (cohort)
where week = %(week)s
group by cohort, inscription_start
order by inscription_start nulls last, cohort  -- the cohorts' calendar order
