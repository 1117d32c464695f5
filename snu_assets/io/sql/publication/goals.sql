select cohort, department, region, objective from "{schema}".inscription_goals
