-- enriched_events for one window of days, set-based, from reconstructed_events.
-- The key fields come from the state after the event (before it, for a deletion).
insert into "{schema}".enriched_events
select
    e.event_id, e.event_name, e.model, e.record_id, e.young_id, e.patch_id, e.occurred_at,
    e.partition_date,
    e.partition_date                                            as event_day,
    date_trunc('week', e.partition_date)::date                  as event_week,
    e.before ->> 'status'                                       as status_before,
    e.after ->> 'status'                                        as status_after,
    s.state ->> 'cohort'                                        as cohort,
    s.state ->> 'gender'                                        as gender,
    e.age,
    case when e.age is null then null
         when e.age < 15 then '<15'
         when e.age >= 18 then '18+'
         else e.age::text end                                   as age_band,
    d.department_code,
    coalesce(d.department, s.state ->> 'department')            as department,
    coalesce(d.region, s.state ->> 'region')                    as region,
    coalesce(d.academy, s.state ->> 'academy')                  as academy,
    s.state ->> 'grade'                                         as grade,
    case lower(s.state ->> 'qpv') when 'true' then true when 'oui' then true
                                  when 'false' then false when 'non' then false end as qpv,
    s.state ->> 'source'                                        as source,
    e.before,
    e.after
from "{schema}".reconstructed_events e
cross join lateral (select coalesce(e.after, e.before, '{}'::jsonb) as state) s
left join "{schema}".ref_departments d
       on d.department = s.state ->> 'department'
       or d.department_code = s.state ->> 'department'
where e.partition_date >= %(start)s and e.partition_date < %(end)s
