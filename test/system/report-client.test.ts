// The report client's upload against small loopback servers: every failure is an
// outcome with a message a mirror admin can act on, bounded in time.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { fetchStatus, uploadReport } from '../../pipelines/report/client.ts';

const target = (port: number) => ({ server: `http://127.0.0.1:${port}`, site: 'lab', host: 'm1.example.org', password: 'long enough pw' });

/** A port nobody listens on (the server is closed again at once). */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function listen(t: TestContext, srv: http.Server | net.Server): Promise<number> {
  const sockets = new Set<net.Socket>();
  srv.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    srv.close();
  });
  return (srv.address() as AddressInfo).port;
}

describe('report upload outcomes', () => {
  it('stores: the body arrives whole, with basic auth for <site>/<host>', async (t) => {
    let got: { url?: string; auth?: string; body: string } = { body: '' };
    const port = await listen(
      t,
      http.createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          got = { url: req.url, auth: req.headers.authorization, body };
          res.writeHead(201).end();
        });
      }),
    );
    const body = Buffer.from(JSON.stringify({ hello: 'x'.repeat(200_000) }));
    const out = await uploadReport(body, target(port), { timeoutMs: 5000 });
    assert.deepEqual(out, { ok: true, status: 201, url: `http://127.0.0.1:${port}/reports/lab/m1.example.org.json`, bytes: body.length });
    assert.equal(got.url, '/reports/lab/m1.example.org.json');
    assert.equal(got.auth, `Basic ${Buffer.from('lab/m1.example.org:long enough pw').toString('base64')}`);
    assert.equal(got.body, body.toString());
  });

  it('a server that ignores Expect: 100-continue still gets the body', async (t) => {
    const sock = net.createServer((s) => {
      let buf = '';
      s.on('data', (d) => {
        buf += d;
        const head = buf.indexOf('\r\n\r\n');
        if (head < 0) return;
        const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, head))?.[1]);
        if (buf.length - head - 4 >= len) s.end('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n');
      });
    });
    const port = await listen(t, sock);
    const t0 = Date.now();
    const out = await uploadReport(Buffer.from('{"a":1}'), target(port), { timeoutMs: 5000 });
    assert.ok(out.ok && out.status === 204, JSON.stringify(out));
    assert.ok(Date.now() - t0 < 4000);
  });

  it('network failures: refused, and a server that never answers (bounded)', async (t) => {
    const refused = await uploadReport(Buffer.from('{}'), target(await closedPort()), { timeoutMs: 5000 });
    assert.ok(!refused.ok && /connection refused .*the report was not stored/.test(refused.message), JSON.stringify(refused));
    const hang = net.createServer(() => {}); // accepts, says nothing
    const port = await listen(t, hang);
    const t0 = Date.now();
    const silent = await uploadReport(Buffer.from('{}'), target(port), { timeoutMs: 800 });
    assert.ok(!silent.ok && /no answer from 127\.0\.0\.1:\d+ within 800 ms/.test(silent.message), JSON.stringify(silent));
    assert.ok(Date.now() - t0 < 3000);
    const st = await fetchStatus(target(port), { timeoutMs: 800 });
    assert.ok(!st.ok && /no answer/.test(st.message));
  });

  it('rejections say what to do', async (t) => {
    const answers = [401, 403, 413, 404, 500];
    const port = await listen(
      t,
      http.createServer((req, res) => {
        const code = answers.shift()!;
        res.writeHead(code, { 'Content-Type': 'text/html' }).end(`<html><body><h1>${code} Something</h1></body></html>`);
      }),
    );
    const msgs: string[] = [];
    for (let i = 0; i < 5; i++) {
      const o = await uploadReport(Buffer.from('{}'), target(port), { timeoutMs: 5000 });
      assert.equal(o.ok, false);
      if (!o.ok) msgs.push(o.message);
    }
    assert.match(msgs[0]!, /authentication failed for user "lab\/m1.example.org" \(HTTP 401\): check the password/);
    assert.match(msgs[1]!, /may upload only its own report/);
    assert.match(msgs[2]!, /larger than the server accepts \(HTTP 413\)/);
    assert.match(msgs[3]!, /does not accept reports at .* \(HTTP 404\): wrong server URL/);
    assert.match(msgs[4]!, /rejected the report \(HTTP 500: 500 Something\)/);
  });
});
