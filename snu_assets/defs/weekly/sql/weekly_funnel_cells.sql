-- weekly_funnel: the exact weekly counts per week x cohort x region x department x gender x
-- age band, for every week up to the partition's. The published table is computed from them
-- in Python (snu_assets.publication.suppression): margins, cumulated counts, suppression.
{funnel_events}
select week, cohort, region, department, gender, age_band,
       sum(created)::int, sum(completed)::int, sum(processed)::int, sum(validated)::int,
       sum(refused)::int
from funnel_events
group by week, cohort, region, department, gender, age_band
having sum(created) + sum(completed) + sum(processed) + sum(validated) + sum(refused) > 0
