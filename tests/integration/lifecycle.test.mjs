// Lifecycle: SIGTERM drains (new connects are refused, responses in progress finish or are cut
// short, never a complete wrong body), the cache stays consistent across a restart (no partial
// blob is ever served), and SIGHUP swaps policy and denylist in without dropping a connection.
// Downloads are held mid-flight with the fake's gates; the reload is observed on its counter.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { startFakeHub, randomContent } from '../fakehub/fakehub.mjs';
import { makeTempDir, requestHash, sha256, sleep, startGateway, waitForMetrics, withTimeout } from './helpers.mjs';

const MiB = 1024 * 1024;
const T = { timeout: 90000 };

// Resolves once a connect to `url` is refused (polled; each attempt is bounded). Returns whether
// the gateway process was still running at that moment.
async function waitRefused(url, gw, timeoutMs = 5000) {
  const u = new URL(url);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const alive = gw.alive();
    const refused = await new Promise((resolve) => {
      const s = net.connect({ host: u.hostname, port: Number(u.port) });
      const t = setTimeout(() => {
        s.destroy();
        resolve(false);
      }, 1000);
      s.on('connect', () => {
        clearTimeout(t);
        s.destroy();
        resolve(false);
      });
      s.on('error', (e) => {
        clearTimeout(t);
        resolve(e.code === 'ECONNREFUSED');
      });
    });
    if (refused) return alive;
    if (performance.now() > deadline) throw new Error(`connects to ${url} were still accepted after ${timeoutMs} ms`);
    await sleep(20);
  }
}

// Resolves once `n` body bytes of a requestHash download arrived (via its onData hook).
function bytesSeen(n) {
  let hit;
  const reached = new Promise((r) => (hit = r));
  return { reached, onData: (_c, total) => total >= n && hit() };
}

// A raw connection: send(text) writes (resolves once written); `response` resolves with all
// bytes received when the gateway closes the connection.
function openSocket(url) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: u.hostname, port: Number(u.port) });
    const chunks = [];
    const response = new Promise((done) => {
      sock.on('data', (c) => chunks.push(c));
      sock.on('close', () => done(Buffer.concat(chunks).toString('latin1')));
    });
    sock.on('error', () => {});
    sock.once('connect', () =>
      resolve({ send: (text) => new Promise((ok) => sock.write(text, () => ok())), response, destroy: () => sock.destroy() }),
    );
    sock.once('error', reject);
  });
}

async function partFiles(cacheDir) {
  const names = await readdir(path.join(cacheDir, 'tmp')).catch(() => []);
  return names.filter((n) => n.endsWith('.part'));
}

describe('lifecycle: drain on SIGTERM', () => {
  let hub;
  let repo;
  const files = ['a.bin', 'b.bin', 'c.bin', 'e.bin', 'f.bin', 'g.bin', 'k.bin'];

  before(async () => {
    hub = await startFakeHub({});
    repo = hub.addRepo({
      id: 'org/life',
      files: files.map((p, i) => ({ path: p, content: randomContent(`life-${p}`, 3 * MiB + i * 4099), lfs: true })),
    });
  }, T);
  after(async () => {
    await hub?.close();
  });

  test('short drain_timeout: in-flight downloads complete or end short; a restart serves no partial blob', T, async () => {
    const cacheDir = await makeTempDir('hubgate-life-');
    const drainMs = 2000;
    const gw = await startGateway({ upstream: hub.url, cacheDir, extraArgs: ['--drain-timeout', `${drainMs}ms`] });
    const url = (g, p) => `${g.url}${repo.resolvePath(p)}`;
    const held = ['a.bin', 'b.bin', 'c.bin'];
    const holds = held.map((p, i) => hub.fault({ listener: 'cdn', path: p }, { pauseAt: (i + 1) * 512 * 1024 }));
    const seen = held.map(() => bytesSeen(64 * 1024));
    const downloads = held.map((p, i) => requestHash(url(gw, p), { timeoutMs: 30000, onData: seen[i].onData }));
    let exit;
    let t0;
    try {
      // Every upstream transfer is held and every client has body bytes: three responses in flight.
      await withTimeout(Promise.all(holds.map((h) => h.gate.reached)), 20000, 'three CDN transfers reaching their pause');
      await withTimeout(Promise.all(seen.map((s) => s.reached)), 20000, 'three clients receiving body bytes');
      t0 = performance.now();
      // stop() sends SIGTERM and waits (SIGKILL only if the process is still there after 5 s).
      const stopped = gw.stop({ keepCache: true });
      // c.bin may finish within the drain window or be cut: both are allowed, a wrong body is not.
      holds[2].gate.release();
      assert.ok(await waitRefused(gw.url, gw), 'new connects were refused while the gateway was still draining');
      await withTimeout(stopped, drainMs + 8000, 'gateway exit after SIGTERM');
      exit = await gw.exited;
    } finally {
      for (const h of holds) h.remove();
    }
    const tookMs = performance.now() - t0;
    assert.deepEqual(exit, { code: 0, signal: null }, `exit after the drain\n${gw.logTail()}`);
    assert.ok(tookMs < drainMs + 5000, `exited ${tookMs.toFixed(0)} ms after SIGTERM (drain_timeout ${drainMs} ms)`);
    const results = await Promise.all(downloads);
    const outcome = {};
    for (const [i, r] of results.entries()) {
      const f = repo.file(held[i]);
      assert.equal(r.status, 200, `${held[i]}: status`);
      if (r.complete) {
        assert.equal(r.length, f.size, `${held[i]}: complete length`);
        assert.equal(r.sha256, f.sha256, `${held[i]}: a complete body must be the right one`);
      } else {
        assert.ok(r.length < f.size, `${held[i]}: a cut body is short (${r.length} of ${f.size})`);
      }
      outcome[held[i]] = r.complete;
    }
    // a and b were held upstream for the whole drain: they can only have been cut.
    assert.equal(outcome['a.bin'], false, 'a.bin cut');
    assert.equal(outcome['b.bin'], false, 'b.bin cut');
    const cut = Object.values(outcome).filter((c) => !c).length;
    assert.match(gw.logs(), new RegExp(`drain finished: ${3 - cut} responses drained, ${cut} cut`));
    // An orderly exit takes the abandoned fills' temp files with it.
    assert.deepEqual(await partFiles(cacheDir), [], 'no .part file left by an orderly exit');

    // Restart on the same cache: leftovers of the abandoned fills are gone, nothing partial is a hit.
    const gw2 = await startGateway({ upstream: hub.url, cacheDir });
    try {
      assert.deepEqual(await partFiles(cacheDir), [], 'no .part file after the restart');
      for (const p of held) {
        const f = repo.file(p);
        const r = await requestHash(url(gw2, p), { timeoutMs: 30000 });
        assert.equal(r.status, 200, `${p} after restart`);
        assert.ok(r.complete, `${p} after restart: complete`);
        assert.equal(r.sha256, f.sha256, `${p} after restart: right bytes`);
        if (!outcome[p]) assert.equal(r.headers['x-hubgate-cache'], 'miss', `${p}: its fill never finished, so no hit`);
        else assert.equal(r.headers['x-hubgate-cache'], 'hit', `${p}: completed before the exit, so cached`);
      }
    } finally {
      await gw2.stop();
    }
  });

  test('long drain_timeout: a download in flight completes; answers begun during the drain (a file, /ready: draining) say Connection: close', T, async () => {
    const gw = await startGateway({ upstream: hub.url, extraArgs: ['--drain-timeout', '60s'] });
    const url = (p) => `${gw.url}${repo.resolvePath(p)}`;
    const body = hub.fault({ listener: 'cdn', path: 'e.bin' }, { pauseAt: 1 * MiB });
    // f.bin's request is being answered when the drain starts, but its header is written after.
    const head = hub.fault({ listener: 'hub', path: 'f.bin' }, { holdHeaders: true, times: 1 });
    const seen = bytesSeen(64 * 1024);
    const e = requestHash(url('e.bin'), { timeoutMs: 30000, onData: seen.onData });
    const f = requestHash(url('f.bin'), { timeoutMs: 30000 });
    // A probe whose request has begun arriving when the drain starts is still answered.
    const probe = await openSocket(gw.url);
    await probe.send('GET /ready HTTP/1.1\r\nHost: gateway\r\n');
    let exit;
    try {
      await withTimeout(Promise.all([body.gate.reached, seen.reached, head.headersGate.reached]), 20000, 'both requests in flight');
      // A full round trip through the gateway after the probe's first bytes: it has read them.
      await gw.metrics();
      const stopped = gw.stop();
      assert.ok(await waitRefused(gw.url, gw), 'new connects refused during the drain');
      await probe.send('\r\n');
      const ready = await withTimeout(probe.response, 10000, '/ready answer during the drain');
      assert.match(ready, /^HTTP\/1\.1 503 /, ready);
      assert.match(ready, /\r\nX-Error-Code: NotReady\r\n/i);
      assert.match(ready, /\r\nConnection: close\r\n/i);
      assert.match(ready, /not ready: draining/);
      body.gate.release();
      head.headersGate.release();
      await withTimeout(stopped, 20000, 'gateway exit once the responses are done');
      exit = await gw.exited;
    } finally {
      body.remove();
      head.remove();
    }
    assert.deepEqual(exit, { code: 0, signal: null }, gw.logTail());
    const [re, rf] = await Promise.all([e, f]);
    for (const [name, r] of [['e.bin', re], ['f.bin', rf]]) {
      assert.equal(r.status, 200, `${name} status`);
      assert.ok(r.complete, `${name} complete`);
      assert.equal(r.sha256, repo.file(name).sha256, `${name} bytes`);
    }
    assert.equal(rf.headers.connection, 'close', 'a response begun during the drain closes its connection');
    assert.match(gw.logs(), /drain finished: 3 responses drained, 0 cut/);
  });
  test('a second SIGTERM during the drain cuts at once', T, async () => {
    const gw = await startGateway({ upstream: hub.url, extraArgs: ['--drain-timeout', '60s'] });
    const f = repo.file('g.bin');
    const hold = hub.fault({ listener: 'cdn', path: 'g.bin' }, { pauseAt: 1 * MiB });
    const seen = bytesSeen(64 * 1024);
    const download = requestHash(`${gw.url}${repo.resolvePath('g.bin')}`, { timeoutMs: 30000, onData: seen.onData });
    try {
      await withTimeout(Promise.all([hold.gate.reached, seen.reached]), 20000, 'the download in flight');
      const stopped = gw.stop();
      await waitRefused(gw.url, gw);
      gw.proc.kill('SIGTERM');
      // Far sooner than the 60 s drain_timeout (and than stop()'s 5 s SIGKILL fallback).
      await withTimeout(stopped, 10000, 'exit after the second SIGTERM');
    } finally {
      hold.remove();
    }
    assert.deepEqual(await gw.exited, { code: 0, signal: null }, gw.logTail());
    const r = await download;
    assert.ok(!r.complete && r.length < f.size, `the cut download is short (${r.length} of ${f.size})`);
    assert.match(gw.logs(), /drain finished: 0 responses drained, 1 cut/);
  });

  test('SIGKILL during the drain: the next start removes the partial file, the file is fetched again', T, async () => {
    const cacheDir = await makeTempDir('hubgate-life-kill-');
    const gw = await startGateway({ upstream: hub.url, cacheDir, extraArgs: ['--drain-timeout', '60s'] });
    const f = repo.file('k.bin');
    const hold = hub.fault({ listener: 'cdn', path: 'k.bin' }, { pauseAt: 1 * MiB });
    const seen = bytesSeen(64 * 1024);
    const download = requestHash(`${gw.url}${repo.resolvePath('k.bin')}`, { timeoutMs: 30000, onData: seen.onData });
    try {
      await withTimeout(Promise.all([hold.gate.reached, seen.reached]), 20000, 'the download in flight');
      gw.proc.kill('SIGTERM');
      await waitRefused(gw.url, gw);
      // An orchestrator out of patience: no cleanup runs.
      await gw.kill9();
    } finally {
      hold.remove();
    }
    const r = await download;
    assert.ok(!r.complete && r.length < f.size, `the killed download is short (${r.length} of ${f.size})`);
    assert.equal((await partFiles(cacheDir)).length, 1, "the fill's temp file is left behind by the kill");
    const gw2 = await startGateway({ upstream: hub.url, cacheDir });
    try {
      assert.deepEqual(await partFiles(cacheDir), [], 'reconciled at startup');
      assert.match(gw2.logs(), /cache reconcile: removed 1 partial files/);
      const again = await requestHash(`${gw2.url}${repo.resolvePath('k.bin')}`, { timeoutMs: 30000 });
      assert.ok(again.complete);
      assert.equal(again.sha256, f.sha256);
      assert.equal(again.headers['x-hubgate-cache'], 'miss');
    } finally {
      await gw2.stop();
    }
  });
});

describe('lifecycle: SIGHUP reload', () => {
  let hub;
  let allowed;
  let blocked;

  before(async () => {
    hub = await startFakeHub({});
    allowed = hub.addRepo({
      id: 'org/allowed',
      files: [
        { path: 'ok.bin', content: randomContent('hup-ok', 200 * 1024), lfs: true },
        { path: 'soon-bad.bin', content: randomContent('hup-bad', 300 * 1024), lfs: true },
      ],
    });
    blocked = hub.addRepo({ id: 'org/blocked', files: [{ path: 'x.bin', content: randomContent('hup-x', 100 * 1024), lfs: true }] });
  }, T);
  after(async () => {
    await hub?.close();
  });

  test('policy and denylist change on the same keep-alive connection; a bad config keeps the old one', T, async () => {
    const dir = await makeTempDir('hubgate-hup-');
    const configFile = path.join(dir, 'hubgate.toml');
    const denylist = path.join(dir, 'denylist.txt');
    await writeFile(denylist, '# no entries yet\n');
    const toml = (extra = '') => `[scan]\ndenylist = ${JSON.stringify(denylist)}\n${extra}`;
    await writeFile(configFile, toml());
    const gw = await startGateway({ upstream: hub.url, extraArgs: ['--config', configFile] });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const ports = new Set();
    // GET over the one kept-alive socket: {status, headers, body, port (client side), reused}.
    const get = (repo, p) =>
      new Promise((resolve, reject) => {
        const u = new URL(`${gw.url}${repo.resolvePath(p)}`);
        const req = http.get({ host: u.hostname, port: u.port, path: u.pathname, agent }, (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            ports.add(req.socket.localPort);
            resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), reused: req.reusedSocket });
          });
          res.on('error', reject);
        });
        req.setTimeout(20000, () => req.destroy(new Error(`timeout: GET ${p}`)));
        req.on('error', reject);
      });
    const reloads = (m, result) => m.get('hubgate_config_reloads_total', { result });
    try {
      const first = await get(blocked, 'x.bin');
      assert.equal(first.status, 200);
      assert.equal(sha256(first.body), blocked.file('x.bin').sha256);
      const bad = await get(allowed, 'soon-bad.bin');
      assert.equal(bad.status, 200, 'not denylisted yet');
      assert.equal((await get(allowed, 'soon-bad.bin')).headers['x-hubgate-cache'], 'hit');
      const m0 = await gw.metrics();
      assert.equal(reloads(m0, 'ok'), 0);
      assert.ok(m0.has('hubgate_config_reloads_total', { result: 'error' }), 'the error series exists from the start');

      // New policy (and a setting that needs a restart), new denylist entry; then SIGHUP.
      await writeFile(configFile, toml('[policy]\nproxy_deny = ["org/blocked"]\n[hub]\nwrites = "passthrough"\n'));
      await writeFile(denylist, `# feed v2\n${allowed.file('soon-bad.bin').sha256} reload-test-entry\n`);
      gw.proc.kill('SIGHUP');
      await waitForMetrics(gw, (m) => reloads(m, 'ok') === 1, { what: 'a successful reload', names: ['hubgate_config_reloads_total'] });

      const denied = await get(blocked, 'x.bin');
      assert.equal(denied.status, 403, 'the new policy applies');
      assert.equal(denied.headers['x-error-code'], 'RepoBlockedByPolicy');
      assert.ok(denied.reused, 'answered on the kept-alive connection');
      const ok = await get(allowed, 'ok.bin');
      assert.equal(ok.status, 200, 'an allowed repo still works');
      assert.equal(sha256(ok.body), allowed.file('ok.bin').sha256);
      const nowBad = await get(allowed, 'soon-bad.bin');
      assert.equal(nowBad.status, 403, 'the cached blob is judged against the new denylist');
      assert.equal(nowBad.headers['x-error-code'], 'ScanBlocked');
      assert.match(nowBad.headers['x-error-message'], /reload-test-entry/);
      assert.match(gw.logs(), /need a restart and were not applied: hub\.writes/);

      // A config that does not parse: counted as an error, the previous one stays in force.
      await writeFile(configFile, '[policy\nproxy_deny = \n');
      gw.proc.kill('SIGHUP');
      await waitForMetrics(gw, (m) => reloads(m, 'error') === 1, { what: 'a failed reload', names: ['hubgate_config_reloads_total'] });
      const still = await get(blocked, 'x.bin');
      assert.equal(still.status, 403, 'the previous policy is still in force');
      assert.ok(still.reused, 'the connection survived the failed reload');
      assert.equal((await get(allowed, 'ok.bin')).status, 200);
      assert.match(gw.logs(), /configuration reload failed, the previous configuration stays in force/);
      assert.equal(reloads(await gw.metrics(), 'ok'), 1);
      assert.equal(ports.size, 1, `every request used one connection (client ports: ${[...ports].join(', ')})`);
      assert.ok(gw.alive());
    } finally {
      agent.destroy();
      await gw.stop();
    }
  });
});
