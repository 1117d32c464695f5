"""The daily load, Dagster-free: a window's patches scrubbed into raw rows and rejections
(:mod:`.extract`), rebuilt into events (:mod:`.rebuild`), both streamed in a declared order
(:mod:`.pipeline`); the rows' columns in :mod:`.rows`."""
