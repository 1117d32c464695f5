-- weekly_report_public's check: the week's published national and region totals (every
-- gender and age band), NULL where hidden: what the public edition may print.
select cohort, region, created, completed, processed, validated, refused, validated_cumulated
from "{schema}".weekly_funnel
where week = %(week)s and level in ('national', 'region') and gender = 'all' and age_band = 'all'
