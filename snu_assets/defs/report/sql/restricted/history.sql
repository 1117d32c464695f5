-- weekly_report_restricted: validated cumulated per cohort for every materialised week up to the
-- report's, with the objective and the projection (the chart's data).
select week, cohort,
       sum(validated_cumulated)::int as validated_cumulated,
       max(objective)                as objective,
       sum(projection)               as projection
from "{schema}".weekly_funnel_national
where week <= %(week)s
group by week, cohort
order by week, cohort
