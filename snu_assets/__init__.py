"""snu-assets: the SNU MongoDB patch log turned into anonymised event tables in PostgreSQL."""
