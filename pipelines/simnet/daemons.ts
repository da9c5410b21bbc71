// Real daemons for the simulated mirror network: one nginx with a server per
// mirror (its own loopback port/address), one rsync daemon with a module per
// mirror, and a vsftpd per ftp mirror. Each runs in the foreground as a child we
// own; stop() ends it (TERM, then KILL) and waits, bounded in time.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface Managed {
  pid: number;
  /** Lines the daemon wrote on stderr (bounded), for failure messages. */
  stderr(): string;
  stop(): Promise<void>;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** A port nobody listens on right now (bind to 0, read it, close). */
export async function freePort(address = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, address, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** n distinct free ports: all held open until every one is picked, so none is handed out twice. */
export async function freePorts(n: number, address = '127.0.0.1'): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const srv = net.createServer();
      servers.push(srv);
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, address, () => resolve());
      });
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

/** Waits until something accepts on address:port, or throws after timeoutMs. */
export async function waitForPort(address: string, port: number, timeoutMs = 5000, child?: ChildProcess): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`daemon exited with code ${child.exitCode} before listening on ${address}:${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: address, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${address}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function manage(child: ChildProcess, what: string): Managed {
  let err = '';
  child.stderr?.on('data', (b: Buffer) => {
    if (err.length < 8192) err += b.toString();
  });
  child.stdout?.resume();
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    pid: child.pid!,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) throw new Error(`${what} (pid ${child.pid}) did not stop`);
    },
  };
}

const hostPort = (address: string, port: number) => (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);

export interface NginxServer {
  address: string;
  port: number;
  root: string;
  /** Extra directives inside the server block (e.g. a `return 503;`). */
  extra?: string;
  /** Serve https with this certificate and key (PEM file paths). */
  tls?: { cert: string; key: string };
}

/** One nginx, one `server` per mirror, autoindex on, foreground, all state under workDir. */
export async function startNginxSim(nginx: string, workDir: string, servers: readonly NginxServer[], workers = 1): Promise<Managed> {
  fs.mkdirSync(path.join(workDir, 'tmp'), { recursive: true });
  const conf = path.join(workDir, 'nginx.conf');
  const blocks = servers.map(
    (s) =>
      `  server {\n    listen ${hostPort(s.address, s.port)}${s.tls ? ' ssl' : ''};\n${s.tls ? `    ssl_certificate ${s.tls.cert};\n    ssl_certificate_key ${s.tls.key};\n` : ''}    root ${s.root};\n    location / { autoindex on; }\n${s.extra ? `    ${s.extra}\n` : ''}  }\n`,
  );
  fs.writeFileSync(
    conf,
    `${isRoot() ? 'user root root;\n' : ''}daemon off;\nworker_processes ${workers};\npid ${workDir}/nginx.pid;\nerror_log ${workDir}/error.log warn;\n` +
      `events { worker_connections 4096; }\nhttp {\n  access_log off;\n  keepalive_requests 100000;\n` +
      `  client_body_temp_path ${workDir}/tmp/body; proxy_temp_path ${workDir}/tmp/proxy; fastcgi_temp_path ${workDir}/tmp/fcgi;\n` +
      `  uwsgi_temp_path ${workDir}/tmp/uwsgi; scgi_temp_path ${workDir}/tmp/scgi;\n  types { text/xml xml; application/gzip gz; }\n  default_type application/octet-stream;\n${blocks.join('')}}\n`,
  );
  const child = spawn(nginx, ['-p', workDir, '-c', conf, '-e', `${workDir}/error.log`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const m = manage(child, 'nginx');
  try {
    for (const s of servers.slice(0, 3)) await waitForPort(s.address, s.port, 5000, child);
  } catch (err) {
    await m.stop().catch(() => {});
    const log = fs.existsSync(`${workDir}/error.log`) ? fs.readFileSync(`${workDir}/error.log`, 'utf8').slice(-800) : '';
    throw new Error(`nginx did not start: ${(err as Error).message}\n${m.stderr()}${log}`);
  }
  return m;
}

export interface RsyncModule {
  name: string;
  path: string;
}

/** An rsync daemon with one read-only module per mirror (foreground, no chroot). */
export async function startRsyncSim(rsync: string, workDir: string, address: string, port: number, modules: readonly RsyncModule[]): Promise<Managed> {
  fs.mkdirSync(workDir, { recursive: true });
  const conf = path.join(workDir, 'rsyncd.conf');
  const ids = isRoot() ? 'uid = root\ngid = root\n' : '';
  fs.writeFileSync(
    conf,
    `use chroot = no\n${ids}max connections = 0\nlog file = ${workDir}/rsyncd.log\npid file = ${workDir}/rsyncd.pid\n\n` +
      modules.map((m) => `[${m.name}]\n  path = ${m.path}\n  read only = yes\n  list = yes\n`).join('\n'),
  );
  fs.rmSync(`${workDir}/rsyncd.pid`, { force: true });
  const child = spawn(rsync, ['--daemon', '--no-detach', `--config=${conf}`, `--address=${address}`, `--port=${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const m = manage(child, 'rsync daemon');
  try {
    await waitForPort(address, port, 5000, child);
  } catch (err) {
    await m.stop().catch(() => {});
    throw new Error(`rsync daemon did not start: ${(err as Error).message}\n${m.stderr()}`);
  }
  return m;
}

/**
 * vsftpd serving `root` anonymously, read-only, passive ports in [pasvMin, pasvMax].
 * Runs as the launching user in the foreground; anonymous sessions use the `ftp` account.
 */
export async function startFtpSim(vsftpd: string, workDir: string, address: string, port: number, root: string, pasv: { min: number; max: number }): Promise<Managed> {
  fs.mkdirSync(path.join(workDir, 'empty'), { recursive: true });
  fs.chmodSync(path.join(workDir, 'empty'), 0o755);
  const v6 = address.includes(':');
  const conf = path.join(workDir, 'vsftpd.conf');
  fs.writeFileSync(
    conf,
    [
      v6 ? 'listen=NO' : 'listen=YES',
      v6 ? 'listen_ipv6=YES' : 'listen_ipv6=NO',
      v6 ? `listen_address6=${address}` : `listen_address=${address}`,
      `listen_port=${port}`,
      'background=NO',
      'anonymous_enable=YES',
      'no_anon_password=YES',
      'local_enable=NO',
      'write_enable=NO',
      `anon_root=${root}`,
      'ftp_username=ftp',
      'pasv_enable=YES',
      `pasv_min_port=${pasv.min}`,
      `pasv_max_port=${pasv.max}`,
      ...(v6 ? [] : [`pasv_address=${address}`]),
      'seccomp_sandbox=NO',
      'isolate=NO',
      'isolate_network=NO',
      `secure_chroot_dir=${workDir}/empty`,
      'xferlog_enable=NO',
      'syslog_enable=NO',
      `vsftpd_log_file=${workDir}/vsftpd.log`,
      'max_per_ip=0',
      'max_clients=0',
      'connect_from_port_20=NO',
      '',
    ].join('\n'),
  );
  const child = spawn(vsftpd, [conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const m = manage(child, 'vsftpd');
  try {
    await waitForPort(address, port, 5000, child);
  } catch (err) {
    await m.stop().catch(() => {});
    throw new Error(`vsftpd did not start: ${(err as Error).message}\n${m.stderr()}`);
  }
  return m;
}

/** Makes `dir` and its parents below the temp directory traversable, so daemons dropping privileges can read trees. */
export function openUp(dir: string): void {
  const tmp = fs.realpathSync(os.tmpdir());
  let d = fs.realpathSync(path.resolve(dir));
  while (d.startsWith(tmp + path.sep)) {
    const st = fs.statSync(d);
    if ((st.mode & 0o005) !== 0o005) fs.chmodSync(d, st.mode | 0o005);
    d = path.dirname(d);
  }
}
