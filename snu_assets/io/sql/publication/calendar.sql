select cohort, inscription_start, inscription_end from "{schema}".cohorts
