-- a week already published, with its statistics (NULL when not)
select cohorts, values_total, values_shown, hidden_primary, hidden_secondary, small_cell_k,
       protection_width, block_weeks, detail, published_at
from "{schema}".weekly_funnel_log where week = %(week)s
