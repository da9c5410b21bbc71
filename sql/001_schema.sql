-- The MirrorManager data model (see shared seeds: the CentOS/MirrorManager mail).
-- Registry-owned tables are written by `registry apply` and the admin CLI;
-- crawl-derived columns are written only by the pipeline stages.

CREATE TABLE site (
  id            serial PRIMARY KEY,
  name          text NOT NULL UNIQUE,
  org_url       text,
  private       boolean NOT NULL DEFAULT false,
  admin_active  boolean NOT NULL DEFAULT true,
  user_active   boolean NOT NULL DEFAULT true,
  admins        text[] NOT NULL DEFAULT '{}',
  comment       text NOT NULL DEFAULT '',
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE host (
  id                  serial PRIMARY KEY,
  site_id             integer NOT NULL REFERENCES site (id) ON DELETE CASCADE,
  name                text NOT NULL UNIQUE,
  country             text CHECK (country ~ '^[A-Z]{2}$'),
  bandwidth_int       integer NOT NULL DEFAULT 100 CHECK (bandwidth_int > 0),
  private             boolean NOT NULL DEFAULT false,
  internet2           boolean NOT NULL DEFAULT false,
  internet2_clients   boolean NOT NULL DEFAULT false,
  asn                 bigint,
  asn_clients         boolean NOT NULL DEFAULT false,
  countries_allowed   text[] NOT NULL DEFAULT '{}',
  max_connections     integer NOT NULL DEFAULT 1 CHECK (max_connections > 0),
  admin_active        boolean NOT NULL DEFAULT true,
  user_active         boolean NOT NULL DEFAULT true,
  comment             text NOT NULL DEFAULT '',
  -- bcrypt/sha hash for the private-mirror report upload (htpasswd), never the password
  report_password_hash text,
  -- fields changed through the admin CLI since the last registry apply: {field: {value, at, by, reason}}
  cli_overrides       jsonb NOT NULL DEFAULT '{}',
  -- crawl-derived state: never written by `registry apply`
  crawl_failures      integer NOT NULL DEFAULT 0,
  auto_disabled       boolean NOT NULL DEFAULT false,
  disable_reason      text,
  last_crawled        timestamptz,
  last_crawl_duration_ms integer,
  last_crawl_method   text,
  last_checked_in     timestamptz,
  reachable_ipv4      boolean,
  reachable_ipv6      boolean,
  probe_down          boolean NOT NULL DEFAULT false,
  probe_fail_streak   integer NOT NULL DEFAULT 0,
  probe_ok_streak     integer NOT NULL DEFAULT 0,
  last_probed         timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX host_site_idx ON host (site_id);

-- A CIDR (normalized) or a DNS name resolved at build time (e.g. a NAT gateway).
CREATE TABLE host_netblock (
  id        serial PRIMARY KEY,
  host_id   integer NOT NULL REFERENCES host (id) ON DELETE CASCADE,
  netblock  text NOT NULL,
  kind      text NOT NULL CHECK (kind IN ('cidr', 'dns')),
  UNIQUE (host_id, netblock)
);

-- Addresses or hostnames that go into /rsync_acl.
CREATE TABLE host_acl_ip (
  id       serial PRIMARY KEY,
  host_id  integer NOT NULL REFERENCES host (id) ON DELETE CASCADE,
  ip       text NOT NULL,
  UNIQUE (host_id, ip)
);

-- Content categories come from the config file and are synced at startup.
CREATE TABLE category (
  id        serial PRIMARY KEY,
  name      text NOT NULL UNIQUE,
  topdir    text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE host_category (
  id              serial PRIMARY KEY,
  host_id         integer NOT NULL REFERENCES host (id) ON DELETE CASCADE,
  category_id     integer NOT NULL REFERENCES category (id) ON DELETE CASCADE,
  always_up2date  boolean NOT NULL DEFAULT false,
  UNIQUE (host_id, category_id)
);

CREATE TABLE host_category_url (
  id                serial PRIMARY KEY,
  host_category_id  integer NOT NULL REFERENCES host_category (id) ON DELETE CASCADE,
  url               text NOT NULL,
  -- private URLs are listed to other mirrors only, never to clients
  private           boolean NOT NULL DEFAULT false,
  UNIQUE (host_category_id, url)
);

-- One row per directory of the master tree, named relative to the category top.
CREATE TABLE directory (
  id           serial PRIMARY KEY,
  category_id  integer NOT NULL REFERENCES category (id) ON DELETE CASCADE,
  name         text NOT NULL,
  readable     boolean NOT NULL DEFAULT true,
  ctime        bigint NOT NULL DEFAULT 0,
  -- short file list the crawler compares: [{name, size, mtime}]
  files        jsonb NOT NULL DEFAULT '[]',
  UNIQUE (category_id, name)
);

CREATE TABLE repository (
  id            serial PRIMARY KEY,
  prefix        text NOT NULL,
  arch          text NOT NULL,
  category_id   integer NOT NULL REFERENCES category (id) ON DELETE CASCADE,
  directory_id  integer NOT NULL REFERENCES directory (id) ON DELETE CASCADE,
  disabled      boolean NOT NULL DEFAULT false,
  UNIQUE (prefix, arch)
);

-- Repository aliases: a client asking for from_repo gets to_repo.
CREATE TABLE repository_redirect (
  id         serial PRIMARY KEY,
  from_repo  text NOT NULL UNIQUE,
  to_repo    text NOT NULL
);

-- Hash history of files such as repodata/repomd.xml: the newest row is current,
-- older rows within the retention window become metalink alternates.
CREATE TABLE file_detail (
  id            serial PRIMARY KEY,
  directory_id  integer NOT NULL REFERENCES directory (id) ON DELETE CASCADE,
  filename      text NOT NULL,
  size          bigint,
  md5           text,
  sha1          text,
  sha256        text,
  sha512        text,
  "timestamp"   bigint,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX file_detail_dir_file_idx ON file_detail (directory_id, filename, created_at DESC);

-- The crawler's verdict per host, category and directory.
CREATE TABLE host_category_dir (
  id                serial PRIMARY KEY,
  host_category_id  integer NOT NULL REFERENCES host_category (id) ON DELETE CASCADE,
  directory_id      integer NOT NULL REFERENCES directory (id) ON DELETE CASCADE,
  up2date           boolean NOT NULL,
  checked_at        timestamptz NOT NULL DEFAULT now(),
  reason            text,
  UNIQUE (host_category_id, directory_id)
);
CREATE INDEX host_category_dir_dir_idx ON host_category_dir (directory_id);

-- e.g. IL -> EU: a country served from another continent's mirrors.
CREATE TABLE country_continent_redirect (
  country    text PRIMARY KEY CHECK (country ~ '^[A-Z]{2}$'),
  continent  text NOT NULL CHECK (continent IN ('AF', 'AN', 'AS', 'EU', 'NA', 'OC', 'SA'))
);

-- Which repomd.xml version a host served for a key repository at one crawl:
-- 0 current, 1 one behind, 2 two behind, 3 older; NULL unreachable.
CREATE TABLE propagation_sample (
  id             bigserial PRIMARY KEY,
  host_id        integer NOT NULL REFERENCES host (id) ON DELETE CASCADE,
  repository_id  integer NOT NULL REFERENCES repository (id) ON DELETE CASCADE,
  sampled_at     timestamptz NOT NULL,
  versions_behind integer,
  UNIQUE (host_id, repository_id, sampled_at)
);
CREATE INDEX propagation_sample_repo_idx ON propagation_sample (repository_id, sampled_at);

-- One row per `mirrorsmith run`, with per-stage status, duration and counts.
CREATE TABLE pipeline_run (
  id           serial PRIMARY KEY,
  started_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok', 'failed', 'degraded', 'cancelled')),
  exit_code    integer,
  stages       jsonb NOT NULL DEFAULT '[]',
  holder       text NOT NULL DEFAULT '',
  generation   text
);
