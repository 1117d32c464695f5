-- each cohort's first published week (the origin of its blocks)
select cohort, min(week) from "{schema}".weekly_funnel group by cohort
