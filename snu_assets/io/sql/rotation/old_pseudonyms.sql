-- every pseudonym the current key wrote: the ids of the patches, records, youngs and events
create temp table old_pseudonyms on commit drop as
select patch_id as id from "{schema}".raw_patches
union select record_id from "{schema}".raw_patches
union select young_id from "{schema}".raw_patches where young_id is not null
union select patch_id from "{schema}".rejected_patches
union select event_id from "{schema}".reconstructed_events;
create unique index on old_pseudonyms (id);
analyze old_pseudonyms;
