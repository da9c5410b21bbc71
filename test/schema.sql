TABLE category
  id integer NOT NULL DEFAULT nextval('category_id_seq'::regclass)
  name text NOT NULL
  topdir text NOT NULL
  created_at timestamp with time zone NOT NULL DEFAULT now()
  scan_started_at timestamp with time zone
  scanned_at timestamp with time zone
  scan_source text
  scan_error text
  scan_digest jsonb
  scan_dirs text
  CONSTRAINT category_name_key UNIQUE (name)
  CONSTRAINT category_pkey PRIMARY KEY (id)
  INDEX CREATE UNIQUE INDEX category_name_key ON category USING btree (name)
  INDEX CREATE UNIQUE INDEX category_pkey ON category USING btree (id)
TABLE country_continent_redirect
  country text NOT NULL
  continent text NOT NULL
  CONSTRAINT country_continent_redirect_continent_check CHECK ((continent = ANY (ARRAY['AF'::text, 'AN'::text, 'AS'::text, 'EU'::text, 'NA'::text, 'OC'::text, 'SA'::text])))
  CONSTRAINT country_continent_redirect_country_check CHECK ((country ~ '^[A-Z]{2}$'::text))
  CONSTRAINT country_continent_redirect_pkey PRIMARY KEY (country)
  INDEX CREATE UNIQUE INDEX country_continent_redirect_pkey ON country_continent_redirect USING btree (country)
TABLE crawl_log
  id bigint NOT NULL DEFAULT nextval('crawl_log_id_seq'::regclass)
  host_id integer NOT NULL
  run_id integer
  started_at timestamp with time zone NOT NULL
  duration_ms integer NOT NULL
  method text NOT NULL
  ok boolean NOT NULL
  counted boolean NOT NULL DEFAULT true
  error_kind text
  summary text NOT NULL
  requests integer NOT NULL DEFAULT 0
  budget integer NOT NULL DEFAULT 0
  bytes bigint NOT NULL DEFAULT 0
  dirs_up2date integer NOT NULL DEFAULT 0
  dirs_stale integer NOT NULL DEFAULT 0
  reachable_ipv4 boolean
  reachable_ipv6 boolean
  lines jsonb NOT NULL DEFAULT '[]'::jsonb
  CONSTRAINT crawl_log_host_id_fkey FOREIGN KEY (host_id) REFERENCES host(id) ON DELETE CASCADE
  CONSTRAINT crawl_log_pkey PRIMARY KEY (id)
  CONSTRAINT crawl_log_run_id_fkey FOREIGN KEY (run_id) REFERENCES pipeline_run(id) ON DELETE SET NULL
  INDEX CREATE INDEX crawl_log_host_idx ON crawl_log USING btree (host_id, started_at DESC)
  INDEX CREATE UNIQUE INDEX crawl_log_pkey ON crawl_log USING btree (id)
TABLE directory
  id integer NOT NULL DEFAULT nextval('directory_id_seq'::regclass)
  category_id integer NOT NULL
  name text NOT NULL
  readable boolean NOT NULL DEFAULT true
  ctime bigint NOT NULL DEFAULT 0
  files jsonb NOT NULL DEFAULT '[]'::jsonb
  CONSTRAINT directory_category_id_fkey FOREIGN KEY (category_id) REFERENCES category(id) ON DELETE CASCADE
  CONSTRAINT directory_category_id_name_key UNIQUE (category_id, name)
  CONSTRAINT directory_pkey PRIMARY KEY (id)
  INDEX CREATE UNIQUE INDEX directory_category_id_name_key ON directory USING btree (category_id, name)
  INDEX CREATE UNIQUE INDEX directory_pkey ON directory USING btree (id)
TABLE file_detail
  id integer NOT NULL DEFAULT nextval('file_detail_id_seq'::regclass)
  directory_id integer NOT NULL
  filename text NOT NULL
  size bigint
  md5 text
  sha1 text
  sha256 text
  sha512 text
  timestamp bigint
  created_at timestamp with time zone NOT NULL DEFAULT now()
  CONSTRAINT file_detail_directory_id_fkey FOREIGN KEY (directory_id) REFERENCES directory(id) ON DELETE CASCADE
  CONSTRAINT file_detail_pkey PRIMARY KEY (id)
  INDEX CREATE INDEX file_detail_dir_file_idx ON file_detail USING btree (directory_id, filename, created_at DESC)
  INDEX CREATE UNIQUE INDEX file_detail_pkey ON file_detail USING btree (id)
TABLE host
  id integer NOT NULL DEFAULT nextval('host_id_seq'::regclass)
  site_id integer NOT NULL
  name text NOT NULL
  country text
  bandwidth_int integer NOT NULL DEFAULT 100
  private boolean NOT NULL DEFAULT false
  internet2 boolean NOT NULL DEFAULT false
  internet2_clients boolean NOT NULL DEFAULT false
  asn bigint
  asn_clients boolean NOT NULL DEFAULT false
  countries_allowed ARRAY NOT NULL DEFAULT '{}'::text[]
  max_connections integer NOT NULL DEFAULT 1
  admin_active boolean NOT NULL DEFAULT true
  user_active boolean NOT NULL DEFAULT true
  comment text NOT NULL DEFAULT ''::text
  report_password_hash text
  cli_overrides jsonb NOT NULL DEFAULT '{}'::jsonb
  crawl_failures integer NOT NULL DEFAULT 0
  auto_disabled boolean NOT NULL DEFAULT false
  disable_reason text
  last_crawled timestamp with time zone
  last_crawl_duration_ms integer
  last_crawl_method text
  last_checked_in timestamp with time zone
  reachable_ipv4 boolean
  reachable_ipv6 boolean
  probe_down boolean NOT NULL DEFAULT false
  probe_fail_streak integer NOT NULL DEFAULT 0
  probe_ok_streak integer NOT NULL DEFAULT 0
  last_probed timestamp with time zone
  created_at timestamp with time zone NOT NULL DEFAULT now()
  CONSTRAINT host_bandwidth_int_check CHECK ((bandwidth_int > 0))
  CONSTRAINT host_country_check CHECK ((country ~ '^[A-Z]{2}$'::text))
  CONSTRAINT host_max_connections_check CHECK ((max_connections > 0))
  CONSTRAINT host_name_key UNIQUE (name)
  CONSTRAINT host_pkey PRIMARY KEY (id)
  CONSTRAINT host_site_id_fkey FOREIGN KEY (site_id) REFERENCES site(id) ON DELETE CASCADE
  INDEX CREATE UNIQUE INDEX host_name_key ON host USING btree (name)
  INDEX CREATE UNIQUE INDEX host_pkey ON host USING btree (id)
  INDEX CREATE INDEX host_site_idx ON host USING btree (site_id)
TABLE host_acl_ip
  id integer NOT NULL DEFAULT nextval('host_acl_ip_id_seq'::regclass)
  host_id integer NOT NULL
  ip text NOT NULL
  CONSTRAINT host_acl_ip_host_id_fkey FOREIGN KEY (host_id) REFERENCES host(id) ON DELETE CASCADE
  CONSTRAINT host_acl_ip_host_id_ip_key UNIQUE (host_id, ip)
  CONSTRAINT host_acl_ip_pkey PRIMARY KEY (id)
  INDEX CREATE UNIQUE INDEX host_acl_ip_host_id_ip_key ON host_acl_ip USING btree (host_id, ip)
  INDEX CREATE UNIQUE INDEX host_acl_ip_pkey ON host_acl_ip USING btree (id)
TABLE host_category
  id integer NOT NULL DEFAULT nextval('host_category_id_seq'::regclass)
  host_id integer NOT NULL
  category_id integer NOT NULL
  always_up2date boolean NOT NULL DEFAULT false
  CONSTRAINT host_category_category_id_fkey FOREIGN KEY (category_id) REFERENCES category(id) ON DELETE CASCADE
  CONSTRAINT host_category_host_id_category_id_key UNIQUE (host_id, category_id)
  CONSTRAINT host_category_host_id_fkey FOREIGN KEY (host_id) REFERENCES host(id) ON DELETE CASCADE
  CONSTRAINT host_category_pkey PRIMARY KEY (id)
  INDEX CREATE UNIQUE INDEX host_category_host_id_category_id_key ON host_category USING btree (host_id, category_id)
  INDEX CREATE UNIQUE INDEX host_category_pkey ON host_category USING btree (id)
TABLE host_category_dir
  id integer NOT NULL DEFAULT nextval('host_category_dir_id_seq'::regclass)
  host_category_id integer NOT NULL
  directory_id integer NOT NULL
  up2date boolean NOT NULL
  checked_at timestamp with time zone NOT NULL DEFAULT now()
  reason text
  CONSTRAINT host_category_dir_directory_id_fkey FOREIGN KEY (directory_id) REFERENCES directory(id) ON DELETE CASCADE
  CONSTRAINT host_category_dir_host_category_id_directory_id_key UNIQUE (host_category_id, directory_id)
  CONSTRAINT host_category_dir_host_category_id_fkey FOREIGN KEY (host_category_id) REFERENCES host_category(id) ON DELETE CASCADE
  CONSTRAINT host_category_dir_pkey PRIMARY KEY (id)
  INDEX CREATE INDEX host_category_dir_dir_idx ON host_category_dir USING btree (directory_id)
  INDEX CREATE UNIQUE INDEX host_category_dir_host_category_id_directory_id_key ON host_category_dir USING btree (host_category_id, directory_id)
  INDEX CREATE UNIQUE INDEX host_category_dir_pkey ON host_category_dir USING btree (id)
TABLE host_category_url
  id integer NOT NULL DEFAULT nextval('host_category_url_id_seq'::regclass)
  host_category_id integer NOT NULL
  url text NOT NULL
  private boolean NOT NULL DEFAULT false
  CONSTRAINT host_category_url_host_category_id_fkey FOREIGN KEY (host_category_id) REFERENCES host_category(id) ON DELETE CASCADE
  CONSTRAINT host_category_url_host_category_id_url_key UNIQUE (host_category_id, url)
  CONSTRAINT host_category_url_pkey PRIMARY KEY (id)
  INDEX CREATE UNIQUE INDEX host_category_url_host_category_id_url_key ON host_category_url USING btree (host_category_id, url)
  INDEX CREATE UNIQUE INDEX host_category_url_pkey ON host_category_url USING btree (id)
TABLE host_netblock
  id integer NOT NULL DEFAULT nextval('host_netblock_id_seq'::regclass)
  host_id integer NOT NULL
  netblock text NOT NULL
  kind text NOT NULL
  CONSTRAINT host_netblock_host_id_fkey FOREIGN KEY (host_id) REFERENCES host(id) ON DELETE CASCADE
  CONSTRAINT host_netblock_host_id_netblock_key UNIQUE (host_id, netblock)
  CONSTRAINT host_netblock_kind_check CHECK ((kind = ANY (ARRAY['cidr'::text, 'dns'::text])))
  CONSTRAINT host_netblock_pkey PRIMARY KEY (id)
  INDEX CREATE UNIQUE INDEX host_netblock_host_id_netblock_key ON host_netblock USING btree (host_id, netblock)
  INDEX CREATE UNIQUE INDEX host_netblock_pkey ON host_netblock USING btree (id)
TABLE pipeline_run
  id integer NOT NULL DEFAULT nextval('pipeline_run_id_seq'::regclass)
  started_at timestamp with time zone NOT NULL DEFAULT now()
  finished_at timestamp with time zone
  status text NOT NULL DEFAULT 'running'::text
  exit_code integer
  stages jsonb NOT NULL DEFAULT '[]'::jsonb
  holder text NOT NULL DEFAULT ''::text
  generation text
  CONSTRAINT pipeline_run_pkey PRIMARY KEY (id)
  CONSTRAINT pipeline_run_status_check CHECK ((status = ANY (ARRAY['running'::text, 'ok'::text, 'failed'::text, 'degraded'::text, 'cancelled'::text])))
  INDEX CREATE UNIQUE INDEX pipeline_run_pkey ON pipeline_run USING btree (id)
TABLE propagation_sample
  id bigint NOT NULL DEFAULT nextval('propagation_sample_id_seq'::regclass)
  host_id integer NOT NULL
  repository_id integer NOT NULL
  sampled_at timestamp with time zone NOT NULL
  versions_behind integer
  CONSTRAINT propagation_sample_host_id_fkey FOREIGN KEY (host_id) REFERENCES host(id) ON DELETE CASCADE
  CONSTRAINT propagation_sample_host_id_repository_id_sampled_at_key UNIQUE (host_id, repository_id, sampled_at)
  CONSTRAINT propagation_sample_pkey PRIMARY KEY (id)
  CONSTRAINT propagation_sample_repository_id_fkey FOREIGN KEY (repository_id) REFERENCES repository(id) ON DELETE CASCADE
  INDEX CREATE UNIQUE INDEX propagation_sample_host_id_repository_id_sampled_at_key ON propagation_sample USING btree (host_id, repository_id, sampled_at)
  INDEX CREATE UNIQUE INDEX propagation_sample_pkey ON propagation_sample USING btree (id)
  INDEX CREATE INDEX propagation_sample_repo_idx ON propagation_sample USING btree (repository_id, sampled_at)
TABLE repository
  id integer NOT NULL DEFAULT nextval('repository_id_seq'::regclass)
  prefix text NOT NULL
  arch text NOT NULL
  category_id integer NOT NULL
  directory_id integer NOT NULL
  disabled boolean NOT NULL DEFAULT false
  error text
  CONSTRAINT repository_category_id_fkey FOREIGN KEY (category_id) REFERENCES category(id) ON DELETE CASCADE
  CONSTRAINT repository_directory_id_fkey FOREIGN KEY (directory_id) REFERENCES directory(id) ON DELETE CASCADE
  CONSTRAINT repository_pkey PRIMARY KEY (id)
  CONSTRAINT repository_prefix_arch_key UNIQUE (prefix, arch)
  INDEX CREATE UNIQUE INDEX repository_pkey ON repository USING btree (id)
  INDEX CREATE UNIQUE INDEX repository_prefix_arch_key ON repository USING btree (prefix, arch)
TABLE repository_redirect
  id integer NOT NULL DEFAULT nextval('repository_redirect_id_seq'::regclass)
  from_repo text NOT NULL
  to_repo text NOT NULL
  CONSTRAINT repository_redirect_from_repo_key UNIQUE (from_repo)
  CONSTRAINT repository_redirect_pkey PRIMARY KEY (id)
  INDEX CREATE UNIQUE INDEX repository_redirect_from_repo_key ON repository_redirect USING btree (from_repo)
  INDEX CREATE UNIQUE INDEX repository_redirect_pkey ON repository_redirect USING btree (id)
TABLE schema_migration
  id integer NOT NULL
  name text NOT NULL
  applied_at timestamp with time zone NOT NULL DEFAULT now()
  CONSTRAINT schema_migration_pkey PRIMARY KEY (id)
  INDEX CREATE UNIQUE INDEX schema_migration_pkey ON schema_migration USING btree (id)
TABLE site
  id integer NOT NULL DEFAULT nextval('site_id_seq'::regclass)
  name text NOT NULL
  org_url text
  private boolean NOT NULL DEFAULT false
  admin_active boolean NOT NULL DEFAULT true
  user_active boolean NOT NULL DEFAULT true
  admins ARRAY NOT NULL DEFAULT '{}'::text[]
  comment text NOT NULL DEFAULT ''::text
  created_at timestamp with time zone NOT NULL DEFAULT now()
  CONSTRAINT site_name_key UNIQUE (name)
  CONSTRAINT site_pkey PRIMARY KEY (id)
  INDEX CREATE UNIQUE INDEX site_name_key ON site USING btree (name)
  INDEX CREATE UNIQUE INDEX site_pkey ON site USING btree (id)
