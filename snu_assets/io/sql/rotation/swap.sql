-- the swap, one transaction: readers see the old schema or the rebuilt one, never a gap
alter schema "{schema}" rename to "{retired}";
alter schema "{shadow}" rename to "{schema}";
