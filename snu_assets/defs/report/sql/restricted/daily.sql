-- weekly_report_restricted: the week's seven days, national and exact, from enriched_events (young
-- events only; the funnel categories of funnel_events.sql). Days without any event are 0.
select d.day::date                                                           as day,
       count(*) filter (where e.event_name = 'young.created')                as created,
       count(*) filter (where e.event_name = 'young.status.WAITING_VALIDATION') as completed,
       count(*) filter (where e.event_name like 'young.status.%%'
                          and e.status_before = 'WAITING_VALIDATION')        as processed,
       count(*) filter (where e.event_name = 'young.status.VALIDATED')       as validated,
       count(*) filter (where e.event_name = 'young.status.REFUSED')         as refused
from generate_series(%(week)s::date, %(week_end)s::date - 1, interval '1 day') as d(day)
left join "{schema}".enriched_events e
       on e.event_day = d.day::date and e.model = 'young'
group by d.day
order by d.day
