-- Descriptions shown by Metabase and by the Dagster UI (column schema metadata).
comment on table "{schema}".raw_patches is 'One row per MongoDB patch (young or application update), personal data stripped at extraction: allow-listed op paths only, ids replaced by keyed pseudonyms, the author''s role only.';
comment on column "{schema}".raw_patches.patch_id is 'Keyed pseudonym of the patch (stable across runs).';
comment on column "{schema}".raw_patches.record_id is 'Pseudonym of the patched record (young or application).';
comment on column "{schema}".raw_patches.young_id is 'Pseudonym of the young concerned (joins every table).';
comment on column "{schema}".raw_patches.occurred_at is 'When the change was saved.';
comment on column "{schema}".raw_patches.partition_date is 'Day of occurred_at in SNU_TIMEZONE (Europe/Paris).';
comment on column "{schema}".raw_patches.ops is 'JSON Patch ops on allow-listed fields only (birth dates as a month, ids pseudonymised).';
comment on column "{schema}".raw_patches.author_role is 'Role of the author (young, referent_department, admin, script, system...).';
comment on column "{schema}".raw_patches.redacted_values is 'Allow-listed values that looked personal and were replaced by [redacted].';
comment on column "{schema}".raw_patches.impersonator_role is 'Role of an admin acting as the author (impersonation), else null; never who.';
comment on table "{schema}".rejected_patches is 'Patches that could not be used, with the reason (never quoting a value).';

comment on table "{schema}".reconstructed_events is 'One row per event, with the allow-listed state of the record just before and just after the patch, rebuilt from the whole patch log and the current document.';
comment on column "{schema}".reconstructed_events.event_name is 'young.created, young.<field>.<NEW_VALUE> (status, statusPhase1-3, cohort), application.created, application.status.<NEW_VALUE>, <model>.deleted.';
comment on column "{schema}".reconstructed_events.before is 'Allow-listed state just before the patch (NULL: the record did not exist yet).';
comment on column "{schema}".reconstructed_events.after is 'Allow-listed state just after the patch (NULL: the record was destroyed).';
comment on column "{schema}".reconstructed_events.age is 'Age in full years at the event (the birth date itself is never stored).';

comment on table "{schema}".enriched_events is 'The events with plain columns for dashboards next to the JSONB states.';
comment on column "{schema}".enriched_events.event_day is 'Calendar day of the event in SNU_TIMEZONE.';
comment on column "{schema}".enriched_events.event_week is 'Monday of the event''s week.';
comment on column "{schema}".enriched_events.status_before is 'Young/application status just before the event.';
comment on column "{schema}".enriched_events.status_after is 'Status just after the event.';
comment on column "{schema}".enriched_events.age_band is 'Age band at the event: <15, 15, 16, 17, 18+.';
comment on column "{schema}".enriched_events.department is 'Department of the young (reference spelling), region and academy from the shipped reference.';
comment on column "{schema}".enriched_events.qpv is 'Lives in a priority neighbourhood (quartier prioritaire de la ville).';

comment on table "{schema}".inscription_goals is 'Annual objective (max validated youngs) per cohort and department.';
comment on table "{schema}".cohorts is 'Inscription window of each cohort, used by projections.';
comment on table "{schema}".weekly_funnel is 'Published weekly funnel (role snu_public) per cohort at three levels (national, region, department) x gender x age band, margins included (''all''). NULL: hidden by statistical disclosure control (counts of 1 to k-1, SNU_SMALL_CELL_K, default 5, and enough others that no hidden value can be narrowed to less than k from everything published).';
comment on column "{schema}".weekly_funnel.level is 'national (region and department ''all''), region (department ''all'') or department.';
comment on column "{schema}".weekly_funnel.gender is 'male, female, unknown, or all (every gender: the margin).';
comment on column "{schema}".weekly_funnel.age_band is '<15, 15, 16, 17, 18+, unknown, or all (every age band: the margin).';
comment on column "{schema}".weekly_funnel.created is 'Applications created in the week (young.created).';
comment on column "{schema}".weekly_funnel.completed is 'Applications completed in the week (status to WAITING_VALIDATION).';
comment on column "{schema}".weekly_funnel.processed is 'Applications processed in the week (status change from WAITING_VALIDATION).';
comment on column "{schema}".weekly_funnel.validated is 'Applications validated in the week.';
comment on column "{schema}".weekly_funnel.refused is 'Applications refused in the week.';
comment on column "{schema}".weekly_funnel.objective is 'Annual objective of the department, region or country x cohort (repeated on each row: do not sum across rows).';
comment on column "{schema}".weekly_funnel.suppressed is 'True when a count of the row is hidden (NULL).';
comment on column "{schema}".weekly_funnel.projection is 'Validated expected at the close of the cohort''s inscriptions at the pace observed so far; NULL when validated_cumulated is hidden.';
comment on table "{schema}".weekly_funnel_hidden is 'Ministry only (role snu_reader): every value hidden in weekly_funnel, with its exact value and why: primary (a count of 1 to k-1) or secondary (hidden so that no primary can be recovered).';
comment on column "{schema}".weekly_funnel_hidden.measure is 'The weekly_funnel column hidden (created .. refused_cumulated).';
comment on column "{schema}".weekly_funnel_hidden.suppression is 'primary: 1 to k-1; secondary: hidden to protect others.';
comment on table "{schema}".weekly_funnel_national is 'Ministry only (role snu_reader): weekly funnel without geography, exact (computed from the events, never suppressed).';
comment on column "{schema}".enriched_events.author_role is 'Role of who made the change (as raw_patches.author_role).';
comment on column "{schema}".enriched_events.impersonator_role is 'Role of an admin acting as the author, else null.';
