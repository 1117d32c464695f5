-- weekly_report_public: the week's national totals per cohort as published (weekly_funnel,
-- level 'national', every gender and age band). NULL: hidden (statistical disclosure
-- control). Reads only what the role snu_public reads.
select cohort, created, completed, processed, validated, refused,
       validated_cumulated, objective, projection
from "{schema}".weekly_funnel
left join "{schema}".cohorts using (cohort)
where week = %(week)s and level = 'national' and gender = 'all' and age_band = 'all'
order by inscription_start nulls last, cohort  -- the cohorts' calendar order
