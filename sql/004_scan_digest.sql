-- scan-master: what a fullfiletimelist scan saw, as digests, so that the next
-- scan of an unchanged list (same bytes, same config, same directory modes and
-- ctimes) records the scan without parsing the list or reading the directory
-- table. NULL = no usable digest (not a list scan, or the list was racy).
ALTER TABLE category
  ADD COLUMN scan_digest jsonb;
