-- weekly_funnel: the exact counts cumulated since each cohort opened, up to the week's end,
-- per cohort x region x department x gender x age band (the finest cells). The publication
-- (snu_assets.core.publication) derives the week's counts from the week published before,
-- sums the margins and protects them.
{funnel_events}
select cohort, region, department, gender, age_band,
       sum(created)::int, sum(completed)::int, sum(processed)::int, sum(validated)::int,
       sum(refused)::int
from funnel_events
group by cohort, region, department, gender, age_band
having sum(created) + sum(completed) + sum(processed) + sum(validated) + sum(refused) > 0
