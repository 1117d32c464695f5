-- the hidden values of weekly_funnel in [start, week): why, and their exact value
select week, cohort, region, department, gender, age_band, measure, suppression, exact_value
from "{schema}".weekly_funnel_hidden
where week >= %(start)s and week < %(week)s
