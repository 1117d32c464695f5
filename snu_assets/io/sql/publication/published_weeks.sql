-- the weeks weekly_funnel has published in [start, week)
select week from "{schema}".weekly_funnel_log where week >= %(start)s and week < %(week)s
