-- shared by both weekly funnels: one row per young event up to the week's end, with its
-- funnel category flags. Unknown dimensions are spelled 'unknown' (never NULL in a key).
with funnel_events as (
    select
        e.event_week                                               as week,
        coalesce(e.cohort, 'unknown')                              as cohort,
        coalesce(e.region, 'unknown')                              as region,
        coalesce(e.department, 'unknown')                          as department,
        coalesce(e.gender, 'unknown')                              as gender,
        coalesce(e.age_band, 'unknown')                            as age_band,
        (e.event_name = 'young.created')::int                      as created,
        (e.event_name = 'young.status.WAITING_VALIDATION')::int    as completed,
        (e.event_name like 'young.status.%%'
            and e.status_before = 'WAITING_VALIDATION')::int       as processed,
        (e.event_name = 'young.status.VALIDATED')::int             as validated,
        (e.event_name = 'young.status.REFUSED')::int               as refused
    from "{schema}".enriched_events e
    where e.model = 'young' and e.event_day < %(week_end)s
)
