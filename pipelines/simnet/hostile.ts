// Hostile mirrors for the crawler's isolation tests: small loopback servers that
// misbehave on purpose. Every server tracks its sockets so close() ends them at
// once, and every endless behaviour stops when its socket closes.
import http from 'node:http';
import net from 'node:net';

export type HostileHttp =
  | 'drip' // headers, then one byte per second
  | 'endless' // a chunked body that never ends
  | 'huge' // a 1 GB repomd.xml, streamed (no Content-Length)
  | 'huge-declared' // Content-Length: 1 GB
  | 'redirect-loop' // 302 to itself, forever
  | 'redirect-file' // 302 to file:///etc/passwd
  | 'redirect-other' // 302 to another loopback service (set `otherUrl`)
  | 'short-body' // Content-Length larger than the body, then close
  | 'long-body' // Content-Length smaller than the body
  | 'http-error'; // 500 on everything

export interface Closable {
  port: number;
  address: string;
  /** Requests (or connections, for raw servers) received. */
  hits: number;
  close(): Promise<void>;
}

function track(server: net.Server): { sockets: Set<net.Socket>; closeAll(): Promise<void> } {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    sockets,
    closeAll: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function listen(server: net.Server, address: string, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve());
  });
  return (server.address() as net.AddressInfo).port;
}

/** An HTTP server acting out one hostile behaviour on every path. */
export async function startHostileHttp(mode: HostileHttp, opts: { address?: string; otherUrl?: string } = {}): Promise<Closable> {
  const address = opts.address ?? '127.0.0.1';
  const timers = new Set<NodeJS.Timeout>();
  const state = { hits: 0 };
  const server = http.createServer((req, res) => {
    state.hits++;
    const every = (ms: number, fn: () => boolean) => {
      const t = setInterval(() => {
        if (res.destroyed || !fn()) {
          clearInterval(t);
          timers.delete(t);
        }
      }, ms);
      timers.add(t);
      res.on('close', () => {
        clearInterval(t);
        timers.delete(t);
      });
    };
    switch (mode) {
      case 'drip':
        res.writeHead(200, { 'content-type': 'text/xml', 'content-length': '4096' });
        every(1000, () => (res.write('<'), true));
        return;
      case 'endless':
        res.writeHead(200, { 'content-type': 'text/xml' });
        // Never ends; paced by backpressure, stops when the client goes away.
        const more = () => {
          while (!res.destroyed) if (!res.write(Buffer.alloc(64 * 1024, 0x20))) return void res.once('drain', more);
        };
        more();
        return;
      case 'huge':
      case 'huge-declared': {
        res.writeHead(200, { 'content-type': 'text/xml', ...(mode === 'huge-declared' ? { 'content-length': String(1024 ** 3) } : {}) });
        const chunk = Buffer.alloc(1024 * 1024, 0x20);
        let sent = 0;
        // Streamed with backpressure: never held in memory, stops when the client goes.
        const pump = () => {
          while (sent < 1024 && !res.destroyed) {
            sent++;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          if (!res.destroyed) res.end();
        };
        pump();
        return;
      }
      case 'redirect-loop':
        res.writeHead(302, { location: req.url ?? '/' }).end();
        return;
      case 'redirect-file':
        res.writeHead(302, { location: 'file:///etc/passwd' }).end();
        return;
      case 'redirect-other':
        res.writeHead(302, { location: new URL(req.url ?? '/', opts.otherUrl ?? 'http://127.0.0.1:1/').href }).end();
        return;
      case 'short-body':
        res.writeHead(200, { 'content-type': 'text/xml', 'content-length': '5000' });
        res.write('<?xml version="1.0"?><repomd>');
        setTimeout(() => res.destroy(), 20);
        return;
      case 'long-body': {
        // Written on the raw socket: node's own response object refuses to lie.
        req.socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 10\r\nConnection: close\r\n\r\n' + 'x'.repeat(5000));
        return;
      }
      case 'http-error':
        res.writeHead(500).end('internal error\n');
        return;
    }
  });
  const t = track(server);
  const port = await listen(server, address);
  return {
    port,
    address,
    get hits() {
      return state.hits;
    },
    async close() {
      for (const x of timers) clearInterval(x);
      await t.closeAll();
    },
  };
}

/** A TCP server that answers every connection with `greeting` lines of garbage and then idles (an "rsync daemon" printing noise). */
export async function startGarbageRsync(opts: { address?: string } = {}): Promise<Closable> {
  const address = opts.address ?? '127.0.0.1';
  const state = { hits: 0 };
  const server = net.createServer((sock) => {
    state.hits++;
    sock.on('error', () => {});
    sock.write('HELLO THIS IS NOT RSYNC\n\x00\x01\x02garbage garbage\n');
    sock.on('data', () => sock.write('@ERROR?? \xff\xfe nonsense\n'));
  });
  const t = track(server);
  const port = await listen(server, address);
  return {
    port,
    address,
    get hits() {
      return state.hits;
    },
    close: () => t.closeAll(),
  };
}

/** An FTP server that logs anyone in and answers everything except PASV/EPSV, which it ignores forever. */
export async function startSilentPasvFtp(opts: { address?: string } = {}): Promise<Closable> {
  const address = opts.address ?? '127.0.0.1';
  const state = { hits: 0 };
  const server = net.createServer((sock) => {
    state.hits++;
    sock.on('error', () => {});
    sock.write('220 welcome to a broken ftp server\r\n');
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const cmd = line.split(' ')[0]!.toUpperCase();
        if (cmd === 'USER') sock.write('331 password please\r\n');
        else if (cmd === 'PASS') sock.write('230 logged in\r\n');
        else if (cmd === 'PASV' || cmd === 'EPSV') continue; // never answered
        else if (cmd === 'QUIT') sock.end('221 bye\r\n');
        else if (cmd === 'FEAT') sock.write('211-Features:\r\n UTF8\r\n211 End\r\n');
        else if (cmd === 'PWD') sock.write('257 "/"\r\n');
        else sock.write('200 ok\r\n');
      }
    });
  });
  const t = track(server);
  const port = await listen(server, address);
  return {
    port,
    address,
    get hits() {
      return state.hits;
    },
    close: () => t.closeAll(),
  };
}
