-- scan-master bookkeeping: when each category was last scanned and from which
-- source (a directory whose ctime is not older than the last scan's start is
-- re-listed, as its change may have raced that scan), and a per-repository error
-- (e.g. a malformed repomd.xml on the master) shown by `repo list`.
ALTER TABLE category
  ADD COLUMN scan_started_at timestamptz,
  ADD COLUMN scanned_at timestamptz,
  ADD COLUMN scan_source text,
  ADD COLUMN scan_error text;

ALTER TABLE repository
  ADD COLUMN error text;
