"""The tables the asset graph writes in PostgreSQL (unqualified names)."""

#: the daily layers' tables (one partition per day)
DAILY_TABLES = ("raw_patches", "rejected_patches", "reconstructed_events", "enriched_events")
#: the reference tables (unpartitioned)
REFERENCE_TABLES = ("inscription_goals", "cohorts")
#: the weekly views' tables (one partition per week)
WEEKLY_TABLES = ("weekly_funnel", "weekly_funnel_national", "weekly_funnel_hidden")
#: every table of the graph
TABLES = DAILY_TABLES + REFERENCE_TABLES + WEEKLY_TABLES
