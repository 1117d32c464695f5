"""The asset graph, one module per layer, in the order the pipeline runs:
extract (raw_patches) → reconstruct (reconstructed_events) → enrich (enriched_events)
→ views (inscription_goals, weekly_funnel, weekly_funnel_national)."""
