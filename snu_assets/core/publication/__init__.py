"""What is published outside the ministry: statistical disclosure control of the weekly
funnel (:mod:`snu_assets.core.publication.suppression`, pure functions, no Dagster, no SQL)."""
