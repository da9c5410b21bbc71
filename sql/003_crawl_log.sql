-- The crawler's per-host log: one row per host per crawl, so `host show` and the
-- status pages can tell an admin why a mirror is not listed. Only the newest rows
-- per host are kept (the crawl stage prunes).
CREATE TABLE crawl_log (
  id              bigserial PRIMARY KEY,
  host_id         integer NOT NULL REFERENCES host (id) ON DELETE CASCADE,
  run_id          integer REFERENCES pipeline_run (id) ON DELETE SET NULL,
  started_at      timestamptz NOT NULL,
  duration_ms     integer NOT NULL,
  -- rsync, http, https, ftp, or none when no usable URL was found
  method          text NOT NULL,
  ok              boolean NOT NULL,
  -- counted against the failure streak (false when the outage guard held it back)
  counted         boolean NOT NULL DEFAULT true,
  error_kind      text,
  summary         text NOT NULL,
  requests        integer NOT NULL DEFAULT 0,
  budget          integer NOT NULL DEFAULT 0,
  bytes           bigint NOT NULL DEFAULT 0,
  dirs_up2date    integer NOT NULL DEFAULT 0,
  dirs_stale      integer NOT NULL DEFAULT 0,
  reachable_ipv4  boolean,
  reachable_ipv6  boolean,
  -- human-readable lines: one per request or verdict worth telling the admin
  lines           jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX crawl_log_host_idx ON crawl_log (host_id, started_at DESC);
