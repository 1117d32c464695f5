-- what weekly_funnel published in [start, week): the rows, hidden values NULL
select week, cohort, region, department, gender, age_band,
       created, completed, processed, validated, refused,
       created_cumulated, completed_cumulated, processed_cumulated, validated_cumulated,
       refused_cumulated
from "{schema}".weekly_funnel
where week >= %(start)s and week < %(week)s
