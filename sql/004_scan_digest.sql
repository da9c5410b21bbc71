-- scan-master: what the last fullfiletimelist scan or local walk saw, as
-- digests, so that the next scan of an unchanged tree (same list bytes, same
-- config, same directory modes and ctimes) records the scan without parsing the
-- list or reading the directory table. scan_dirs: the directory names a walk
-- lstats for that check (one value instead of 30,000 rows). NULL = no usable
-- digest (an rsync listing, a racy second, a failure).
ALTER TABLE category
  ADD COLUMN scan_digest jsonb,
  ADD COLUMN scan_dirs text;
