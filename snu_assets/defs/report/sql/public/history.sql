-- weekly_report_public: the chart's data as published: the national validated cumulated per
-- cohort for every published week up to the report's (NULL where hidden: the line breaks),
-- with the objective and the projection. Reads only what the role snu_public reads.
select week, cohort, validated_cumulated, objective, projection
from "{schema}".weekly_funnel
where week <= %(week)s and level = 'national' and gender = 'all' and age_band = 'all'
order by week, cohort
