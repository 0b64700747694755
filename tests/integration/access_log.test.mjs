// Access log and X-Request-Id: one JSON line per response on standard output (default) or CLF
// lines in a file (log.access = clf, log.access_path); a client's valid X-Request-Id is echoed
// and logged, an invalid one replaced by a generated 32-hex id; query strings and credentials
// never reach the log.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { startFakeHub, randomContent } from '../fakehub/fakehub.mjs';
import { makeTempDir, request, sleep, startGateway } from './helpers.mjs';

const SECRET_QUERY = 'qsecret-7f3a9';
const SECRET_TOKEN = 'hf_secretTokenNeverLogged0123456789';

// Polls `read()` (text) until `pred(lines)` holds; bounded.
async function waitForLines(read, pred, what, timeoutMs = 5000) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const lines = (await read()).split('\n').filter((l) => l.trim() !== '');
    if (pred(lines)) return lines;
    if (performance.now() > deadline) throw new Error(`timeout waiting for ${what}; lines:\n${lines.slice(-20).join('\n')}`);
    await sleep(20);
  }
}

const jsonLines = (lines) =>
  lines.filter((l) => l.startsWith('{')).map((l) => {
    try {
      return JSON.parse(l);
    } catch (e) {
      throw new Error(`access log line is not JSON: ${l}`);
    }
  });

describe('access log', () => {
  let hub;
  let repo;

  before(async () => {
    hub = await startFakeHub();
    hub.addToken(SECRET_TOKEN, { name: 'logger' });
    repo = hub.addRepo({ id: 'org/logs', files: [{ path: 'w.bin', content: randomContent('logs-w', 64 * 1024 + 1), lfs: true }] });
  });
  after(async () => {
    await hub?.close();
  });

  test('JSON lines with every field; X-Request-Id echoed or generated; no query string or token', { timeout: 60000 }, async () => {
    const gw = await startGateway({ upstream: hub.url });
    try {
      const p = repo.resolvePath('w.bin');
      const ua = `agent/${'x'.repeat(400)}`;
      const miss = await request(`${gw.url}${p}?token=${SECRET_QUERY}`, {
        headers: { 'X-Request-Id': 'client-id.1:a_b-C', 'User-Agent': ua, Authorization: `Bearer ${SECRET_TOKEN}` },
      });
      assert.equal(miss.status, 200);
      assert.equal(miss.headers['x-request-id'], 'client-id.1:a_b-C', 'valid id echoed');
      const bad = await request(`${gw.url}${p}`, { headers: { 'X-Request-Id': 'bad id with spaces/and=signs' } });
      assert.equal(bad.status, 200);
      assert.match(bad.headers['x-request-id'], /^[0-9a-f]{32}$/, 'invalid id replaced');
      const long = await request(`${gw.url}/health`, { headers: { 'X-Request-Id': 'a'.repeat(129) } });
      assert.match(long.headers['x-request-id'], /^[0-9a-f]{32}$/, 'over-long id replaced');
      const none = await request(`${gw.url}/nowhere/at/all`);
      assert.equal(none.status, 404);
      assert.match(none.headers['x-request-id'], /^[0-9a-f]{32}$/, 'generated id on an error answer');
      const again = await request(`${gw.url}/health`);
      assert.notEqual(again.headers['x-request-id'], none.headers['x-request-id'], 'generated ids differ');

      const lines = await waitForLines(
        async () => gw.stdout(),
        (ls) => jsonLines(ls).filter((j) => typeof j.request_id === 'string').length >= 5,
        'five access log lines',
      );
      const entries = jsonLines(lines);
      const byId = (id) => entries.find((j) => j.request_id === id);
      const first = byId('client-id.1:a_b-C');
      assert.ok(first, `no line for the client's id:\n${lines.join('\n')}`);
      assert.match(first.ts, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      assert.equal(first.remote, '127.0.0.1');
      assert.equal(first.method, 'GET');
      assert.equal(first.path, p);
      assert.equal(first.status, 200);
      assert.equal(first.bytes, miss.body.length);
      assert.equal(typeof first.duration_ms, 'number');
      assert.equal(typeof first.ttfb_ms, 'number');
      assert.ok(first.ttfb_ms <= first.duration_ms);
      assert.equal(first.route, 'resolve');
      assert.equal(first.cache, 'miss');
      assert.equal(first.outcome, 'ok');
      assert.match(first.caller, /^(anon|token:[0-9a-f]{8})$/);
      assert.equal(first.user_agent.length, 256, 'user agent truncated');
      const second = byId(bad.headers['x-request-id']);
      assert.ok(second, 'the generated id is logged');
      assert.equal(second.cache, 'hit');
      const nf = byId(none.headers['x-request-id']);
      assert.equal(nf.status, 404);
      assert.equal(nf.cache, '-');
      assert.equal(nf.ttfb_ms === null || typeof nf.ttfb_ms === 'number', true);

      const all = gw.stdout() + gw.logs();
      assert.ok(!all.includes(SECRET_QUERY), 'a query string was logged');
      assert.ok(!all.includes(SECRET_TOKEN), 'a token was logged');
      assert.ok(!all.includes('secretToken'), 'a piece of the token was logged');
    } finally {
      await gw.stop();
    }
  });

  test('log.access = clf into log.access_path', { timeout: 60000 }, async () => {
    const dir = await makeTempDir('hubgate-access-');
    const file = path.join(dir, 'access.log');
    const gw = await startGateway({ upstream: hub.url, env: { HUBGATE_LOG_ACCESS: 'clf', HUBGATE_LOG_ACCESS_PATH: file } });
    try {
      const p = repo.resolvePath('w.bin');
      const r = await request(`${gw.url}${p}?token=${SECRET_QUERY}`, { headers: { Authorization: `Bearer ${SECRET_TOKEN}` } });
      assert.equal(r.status, 200);
      await request(`${gw.url}/health`);
      const read = async () => {
        try {
          return await readFile(file, 'utf8');
        } catch {
          return '';
        }
      };
      const lines = await waitForLines(read, (ls) => ls.length >= 2, 'two CLF lines');
      const clf = /^(\S+) - (\S+) \[(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) \+0000\] "([A-Z]+) (\S+) HTTP\/1\.1" (\d{3}) (\d+)$/;
      for (const l of lines) assert.match(l, clf);
      const [, remote, caller, , , , , , , method, logged, status, bytes] = clf.exec(lines.find((l) => l.includes(p)));
      assert.equal(remote, '127.0.0.1');
      assert.match(caller, /^(anon|token:[0-9a-f]{8})$/);
      assert.equal(method, 'GET');
      assert.equal(logged, p);
      assert.equal(Number(status), 200);
      assert.equal(Number(bytes), r.body.length);
      const text = await read();
      assert.ok(!text.includes(SECRET_QUERY) && !text.includes(SECRET_TOKEN), 'secret in the CLF log');
      assert.ok(!gw.stdout().includes(p), 'the access log went to standard output too');
    } finally {
      await gw.stop();
    }
  });

  test('log.access = off: no access lines', { timeout: 30000 }, async () => {
    const gw = await startGateway({ upstream: hub.url, env: { HUBGATE_LOG_ACCESS: 'off' } });
    try {
      const r = await request(`${gw.url}/health`, { headers: { 'X-Request-Id': 'still-echoed' } });
      assert.equal(r.headers['x-request-id'], 'still-echoed');
      // A later answer proves the first one was observed (same connection order is not needed:
      // the /metrics scrape counts the /health request only after its observer ran).
      const deadline = performance.now() + 5000;
      while ((await gw.metrics()).get('hubgate_requests_total', { route: 'health', status: '200' }) < 1) {
        assert.ok(performance.now() < deadline, '/health not counted');
        await sleep(20);
      }
      assert.ok(!gw.stdout().split('\n').some((l) => l.startsWith('{')), `JSON lines with log.access=off:\n${gw.stdout()}`);
    } finally {
      await gw.stop();
    }
  });
});
