-- annual objectives, one per cohort x department (MongoDB inscriptiongoals)
create table if not exists "{schema}".inscription_goals (
    cohort          text not null,
    cohort_id       text,                      -- pseudonym
    department      text not null,
    department_code text,
    region          text,
    academy         text,
    objective       integer not null,          -- max validated youngs
    primary key (cohort, department)
);

-- cohort calendar: inscription window used for projections
create table if not exists "{schema}".cohorts (
    cohort              text primary key,
    inscription_start   date,
    inscription_end     date,
    dates_from          text not null          -- 'cohorts collection' | 'cohort name' | 'unknown'
);

-- published weekly funnel (role snu_public): per week x cohort x level (national, region,
-- department) x gender x age band, margins included ('all'); hidden values are NULL
create table if not exists "{schema}".weekly_funnel (
    week                date not null,         -- Monday, in SNU_TIMEZONE
    cohort              text not null,
    level               text not null default 'department', -- national | region | department
    region              text not null,         -- 'all' at the national level
    department          text not null,         -- 'all' at the national and region levels
    gender              text not null,         -- 'all': every gender
    age_band            text not null,         -- 'all': every age band
    -- NULL: hidden (statistical disclosure control, see weekly_funnel_hidden)
    created             integer,
    completed           integer,
    processed           integer,
    validated           integer,
    refused             integer,
    created_cumulated   integer,
    completed_cumulated integer,
    processed_cumulated integer,
    validated_cumulated integer,
    refused_cumulated   integer,
    objective           integer,               -- of the department / region / country x cohort (repeated per row)
    projection          numeric(12, 1),        -- validated expected at the cohort's close
    suppressed          boolean not null default false, -- some count of the row is hidden
    primary key (week, cohort, region, department, gender, age_band)
);

-- schemas created before small-cell suppression, then before the published hierarchy
alter table "{schema}".weekly_funnel add column if not exists suppressed boolean not null default false;
alter table "{schema}".weekly_funnel add column if not exists level text not null default 'department';
alter table "{schema}".weekly_funnel
    alter column created drop not null, alter column completed drop not null,
    alter column processed drop not null, alter column validated drop not null,
    alter column refused drop not null, alter column created_cumulated drop not null,
    alter column completed_cumulated drop not null, alter column processed_cumulated drop not null,
    alter column validated_cumulated drop not null, alter column refused_cumulated drop not null;

-- the hidden values of weekly_funnel (ministry only, role snu_reader): why and what
create table if not exists "{schema}".weekly_funnel_hidden (
    week                date not null,
    cohort              text not null,
    level               text not null,
    region              text not null,
    department          text not null,
    gender              text not null,
    age_band            text not null,
    measure             text not null,         -- the weekly_funnel column: created .. refused_cumulated
    suppression         text not null check (suppression in ('primary', 'secondary')),
    exact_value         integer not null,
    primary key (week, cohort, region, department, gender, age_band, measure)
);

-- the weeks weekly_funnel has published, once each (ministry only): a week is never
-- published twice (late data is folded into the next week), and the next week's protection
-- starts from it
create table if not exists "{schema}".weekly_funnel_log (
    week                date primary key,
    published_at        timestamptz not null default now(),
    cohorts             integer not null,
    small_cell_k        integer not null,
    protection_width    integer not null,
    block_weeks         integer not null,
    detail              text not null,         -- cells per level: national,region,department
    values_total        integer not null,      -- count values of the week's rows
    values_shown        integer not null,      -- of which published (not hidden)
    hidden_primary      integer not null,
    hidden_secondary    integer not null
);

create table if not exists "{schema}".weekly_funnel_national (
    week                date not null,
    cohort              text not null,
    gender              text not null,
    age_band            text not null,
    created             integer not null,
    completed           integer not null,
    processed           integer not null,
    validated           integer not null,
    refused             integer not null,
    created_cumulated   integer not null,
    completed_cumulated integer not null,
    processed_cumulated integer not null,
    validated_cumulated integer not null,
    refused_cumulated   integer not null,
    objective           integer,               -- national objective of the cohort (repeated per row)
    projection          numeric(12, 1),
    primary key (week, cohort, gender, age_band)
);
