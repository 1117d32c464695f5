-- enriched_events for one window of days, set-based, from reconstructed_events.
-- The key fields come from the young's state: for a young's event, the state after it
-- (before it, for a deletion); for an application's event, the young's state as it was at
-- that moment (young_state: rebuilt at reconstruction from the young's whole log, so it
-- never depends on which days are already materialised), not today's document.
insert into "{schema}".enriched_events
select
    e.event_id, e.event_name, e.model, e.record_id, e.young_id, e.patch_id, e.occurred_at,
    e.partition_date,
    e.partition_date                                            as event_day,
    date_trunc('week', e.partition_date)::date                  as event_week,
    e.before ->> 'status'                                       as status_before,
    e.after ->> 'status'                                        as status_after,
    coalesce(y.state ->> 'cohort', s.state ->> 'cohort')        as cohort,
    y.state ->> 'gender'                                        as gender,
    a.age,
    case when a.age is null then null
         when a.age < 15 then '<15'
         when a.age >= 18 then '18+'
         else a.age::text end                                   as age_band,
    d.department_code,
    coalesce(d.department, y.state ->> 'department')            as department,
    coalesce(d.region, y.state ->> 'region')                    as region,
    coalesce(d.academy, y.state ->> 'academy')                  as academy,
    y.state ->> 'grade'                                         as grade,
    case lower(y.state ->> 'qpv') when 'true' then true when 'oui' then true
                                  when 'false' then false when 'non' then false end as qpv,
    y.state ->> 'source'                                        as source,
    e.before,
    e.after,
    r.author_role,
    r.impersonator_role
from "{schema}".reconstructed_events e
cross join lateral (select coalesce(e.after, e.before, '{}'::jsonb) as state) s
cross join lateral (
    select case when e.model = 'young' then s.state else coalesce(e.young_state, '{}'::jsonb) end
           as state) y
-- the age: computed at reconstruction from the exact birth date (read in memory, never
-- stored), else from the birth month of the state (birthday taken on the 1st)
cross join lateral (
    select coalesce(e.age, case when y.state ->> 'birthdateAt' ~ '^\d{4}-\d{2}$' then
               extract(year from age(e.partition_date,
                                     to_date(y.state ->> 'birthdateAt', 'YYYY-MM')))::int
           end) as age) a
left join "{schema}".raw_patches r on r.patch_id = e.patch_id
left join "{schema}".ref_departments d
       on d.department = y.state ->> 'department'
       or d.department_code = y.state ->> 'department'
where e.partition_date >= %(start)s and e.partition_date < %(end)s
