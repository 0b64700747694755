// Fills: coalescing (N cold clients -> one upstream transfer), late joiners, streaming while
// filling, resume after a cut, digest verification before publish, kill -9 during a fill.
// Ordering is done with the fake's gates; counters and the fake's request log are the oracle.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { startFakeHub, randomContent } from '../fakehub/fakehub.mjs';
import { curl, delta, makeTempDir, requestHash, sha256, startGateway, waitForMetrics, withTimeout } from './helpers.mjs';

const MiB = 1024 * 1024;

describe('fill', () => {
  let hub;
  let gw;
  let repo;

  before(async () => {
    hub = await startFakeHub({ xet: true });
    repo = hub.addRepo({
      id: 'org/fills',
      files: [
        { path: 'big64.bin', content: randomContent('fill-big64', 64 * MiB), lfs: true },
        { path: 'late.bin', content: randomContent('fill-late', 16 * MiB + 5), lfs: true },
        { path: 'slow.bin', content: randomContent('fill-slow', 16 * MiB), lfs: true },
        { path: 'cut.bin', content: randomContent('fill-cut', 8 * MiB + 1), lfs: true },
        { path: 'cut.txt', content: randomContent('fill-cut-txt', 2 * MiB + 3) },
        { path: 'corrupt.bin', content: randomContent('fill-corrupt', 4 * MiB + 9), lfs: true },
        { path: 'corrupt.txt', content: randomContent('fill-corrupt-txt', 1 * MiB + 1) },
        { path: 'kill.bin', content: randomContent('fill-kill', 16 * MiB), lfs: true },
      ],
    });
    gw = await startGateway({ upstream: hub.url });
  }, { timeout: 60000 });

  after(async () => {
    await gw?.stop();
    await hub?.close();
  }, { timeout: 30000 });

  const url = (path, rev = 'main') => `${gw.url}${repo.resolvePath(path, rev)}`;

  test('16 concurrent cold clients of a 64 MiB LFS file: one CDN transfer, 16 correct bodies', { timeout: 120000 }, async () => {
    const f = repo.file('big64.bin');
    const m0 = await gw.metrics();
    // Hold the single upstream transfer early so that every client provably joins it.
    const hold = hub.fault({ listener: 'cdn', path: 'big64.bin' }, { pauseAt: 4 * MiB });
    const clients = Array.from({ length: 16 }, () => requestHash(url('big64.bin'), { timeoutMs: 90000 }));
    try {
      await withTimeout(hold.gate.reached, 20000, 'first CDN transfer reaching 4 MiB');
      await waitForMetrics(gw, (m) => delta(m, m0, 'hubgate_fill_joined_total') >= 15, {
        timeoutMs: 20000,
        what: '15 clients joining the fill',
        names: ['hubgate_fill_started_total', 'hubgate_fill_joined_total'],
      });
    } finally {
      hold.gate.release();
    }
    const results = await Promise.all(clients);
    for (const [i, r] of results.entries()) {
      assert.equal(r.status, 200, `client ${i} status`);
      assert.ok(r.complete, `client ${i} incomplete: ${r.error?.message}`);
      assert.equal(r.length, f.size, `client ${i} length`);
      assert.equal(r.sha256, f.sha256, `client ${i} bytes`);
    }
    const m1 = await gw.metrics();
    assert.equal(hub.cdnBodyTransfers('big64.bin'), 1, 'CDN body transfers');
    assert.equal(delta(m1, m0, 'hubgate_fill_started_total'), 1, 'fill_started');
    assert.equal(delta(m1, m0, 'hubgate_fill_joined_total'), 15, 'fill_joined');
    assert.equal(delta(m1, m0, 'hubgate_fill_completed_total'), 1, 'fill_completed');
    const up = delta(m1, m0, 'hubgate_upstream_body_bytes_total');
    assert.ok(up >= f.size && up < f.size + 64 * 1024, `upstream_body_bytes ${up} for one ${f.size}-byte transfer`);
  });

  test('a client joining at 50% still gets the whole file', { timeout: 60000 }, async () => {
    const f = repo.file('late.bin');
    const m0 = await gw.metrics();
    const half = Math.floor(f.size / 2);
    const hold = hub.fault({ listener: 'cdn', path: 'late.bin' }, { pauseAt: half });
    let early;
    let late;
    try {
      early = requestHash(url('late.bin'), { timeoutMs: 50000 });
      await withTimeout(hold.gate.reached, 20000, 'CDN transfer reaching 50%');
      late = requestHash(url('late.bin', repo.commit), { timeoutMs: 50000 });
      await waitForMetrics(gw, (m) => delta(m, m0, 'hubgate_fill_joined_total') >= 1, {
        what: 'the late client joining',
        names: ['hubgate_fill_started_total', 'hubgate_fill_joined_total'],
      });
    } finally {
      hold.gate.release();
    }
    for (const [name, r] of [['early', await early], ['late', await late]]) {
      assert.equal(r.status, 200, `${name} status`);
      assert.ok(r.complete, `${name} incomplete: ${r.error?.message}`);
      assert.equal(r.sha256, f.sha256, `${name} bytes`);
    }
    const m1 = await gw.metrics();
    assert.equal(hub.cdnBodyTransfers('late.bin'), 1);
    assert.equal(delta(m1, m0, 'hubgate_fill_joined_total'), 1);
  });

  test('a throttled upstream: first byte reaches the client long before the fill ends', { timeout: 60000 }, async () => {
    const f = repo.file('slow.bin');
    hub.fault({ listener: 'cdn', path: 'slow.bin' }, { throttle: 4 * MiB, times: 1 });
    const r = await requestHash(url('slow.bin'), { timeoutMs: 50000 });
    assert.equal(r.status, 200);
    assert.ok(r.complete, r.error?.message);
    assert.equal(r.sha256, f.sha256);
    const ttfb = r.firstByteAt - r.startedAt;
    const total = r.endedAt - r.startedAt;
    assert.ok(total > 2000, `the throttle did not apply (total ${total.toFixed(0)} ms)`);
    assert.ok(ttfb < total / 3, `time to first byte ${ttfb.toFixed(0)} ms vs total ${total.toFixed(0)} ms: the gateway buffered the fill`);
  });

  for (const [path, listener] of [['cut.bin', 'cdn'], ['cut.txt', 'hub']]) {
    test(`upstream cut at 50% (${listener}): clients get the correct file, the fill resumes with Range`, { timeout: 60000 }, async () => {
      const f = repo.file(path);
      const m0 = await gw.metrics();
      const cutAt = Math.floor(f.size / 2);
      const cut = hub.fault({ listener, path }, { abortAfter: cutAt, times: 1 });
      const [a, b] = await Promise.all([requestHash(url(path), { timeoutMs: 50000 }), curl(url(path, repo.commit))]);
      assert.equal(cut.hits, 1, 'the cut fault did not fire');
      assert.equal(a.status, 200);
      assert.ok(a.complete, `client A incomplete: ${a.error?.message}`);
      assert.equal(a.sha256, f.sha256, 'client A bytes');
      assert.equal(b.code, 0, `curl exit ${b.code}: ${b.stderr}`);
      assert.equal(sha256(b.body), f.sha256, 'client B bytes');
      const m1 = await gw.metrics();
      assert.ok(delta(m1, m0, 'hubgate_fill_resumed_total') >= 1, 'fill_resumed did not rise');
      const resumes = hub.findRequests({ listener, method: 'GET', path, where: (q) => /^bytes=(\d+)-$/.test(q.range ?? '') && Number(/^bytes=(\d+)-$/.exec(q.range)[1]) > 0 });
      assert.ok(resumes.length >= 1, `no "Range: bytes=<n>-" request upstream; saw ranges ${JSON.stringify(hub.findRequests({ listener, path }).map((q) => q.range))}`);
      const n = Number(/^bytes=(\d+)-$/.exec(resumes[0].range)[1]);
      assert.ok(n <= cutAt, `resumed at ${n}, beyond the ${cutAt} bytes sent`);
      // Published: the next request is a hit.
      const c = await curl(url(path));
      assert.equal(c.headers['x-hubgate-cache'], 'hit');
      assert.equal(sha256(c.body), f.sha256);
    });
  }

  for (const [path, listener] of [['corrupt.bin', 'cdn'], ['corrupt.txt', 'hub']]) {
    test(`wrong bytes from upstream (${listener}): no client gets a complete body, nothing cached`, { timeout: 60000 }, async () => {
      const f = repo.file(path);
      const m0 = await gw.metrics();
      const cdn0 = listener === 'cdn' ? hub.cdnBodyTransfers(path) : hub.hubBodyTransfers(path);
      const bad = hub.fault({ listener, path }, { wrongBytes: true, pauseAt: Math.floor(f.size / 4) });
      let clients;
      try {
        clients = [curl(url(path)), curl(url(path, repo.commit)), requestHash(url(path), { timeoutMs: 50000 })];
        await withTimeout(bad.gate.reached, 20000, 'corrupt transfer reaching 25%');
        await waitForMetrics(gw, (m) => delta(m, m0, 'hubgate_fill_joined_total') >= 2, {
          what: 'both other clients joining',
          names: ['hubgate_fill_started_total', 'hubgate_fill_joined_total'],
        });
      } finally {
        bad.gate.release();
      }
      const [c1, c2, h] = await Promise.all(clients);
      for (const [name, r] of [['curl 1', c1], ['curl 2', c2]]) {
        const full = r.code === 0 && r.status < 400 && r.body.length === f.size;
        assert.ok(!full, `${name} received a complete ${r.body.length}-byte body (status ${r.status}, curl exit ${r.code})`);
        assert.ok(r.body.length < f.size, `${name} got ${r.body.length} bytes`);
        assert.notEqual(sha256(r.body), f.sha256);
      }
      assert.ok(!h.complete || h.status >= 400, `streaming client completed with status ${h.status}`);
      assert.ok(h.length < f.size, `streaming client got ${h.length} of ${f.size} bytes`);
      const m1 = await gw.metrics();
      assert.equal(delta(m1, m0, 'hubgate_digest_mismatch_total'), 1, 'digest_mismatch');
      assert.equal(delta(m1, m0, 'hubgate_fill_completed_total'), 0, 'fill_completed');
      assert.ok(delta(m1, m0, 'hubgate_fill_failed_total') >= 1, 'fill_failed');

      // Nothing was published: the next request is a miss with a new upstream transfer, and
      // (the fault being used up) correct.
      const ok = await curl(url(path));
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.status, 200);
      assert.equal(ok.headers['x-hubgate-cache'], 'miss');
      assert.equal(sha256(ok.body), f.sha256);
      const transfers = listener === 'cdn' ? hub.cdnBodyTransfers(path) : hub.hubBodyTransfers(path);
      assert.equal(transfers - cdn0, 2, 'upstream body transfers (bad + good)');
      const hit = await curl(url(path));
      assert.equal(hit.headers['x-hubgate-cache'], 'hit');
      assert.equal(sha256(hit.body), f.sha256);
    });
  }

  test('kill -9 during a fill, restart on the same cache dir: fetched again, never a partial body', { timeout: 90000 }, async () => {
    const f = repo.file('kill.bin');
    const dir = await makeTempDir('hubgate-kill9-');
    let a;
    let b;
    try {
      a = await startGateway({ upstream: hub.url, cacheDir: dir });
      const hold = hub.fault({ listener: 'cdn', path: 'kill.bin' }, { pauseAt: Math.floor(f.size / 2) });
      const client = requestHash(`${a.url}${repo.resolvePath('kill.bin')}`, { timeoutMs: 30000 });
      await withTimeout(hold.gate.reached, 20000, 'CDN transfer reaching 50%');
      await a.kill9();
      hold.gate.release();
      const r = await client;
      assert.ok(!r.complete, 'client of the killed gateway reported a complete body');
      assert.ok(r.length < f.size, `client of the killed gateway got ${r.length} bytes`);

      const cdn0 = hub.cdnBodyTransfers('kill.bin');
      b = await startGateway({ upstream: hub.url, cacheDir: dir });
      const burl = `${b.url}${repo.resolvePath('kill.bin')}`;
      const tail = await curl(burl, { headers: { Range: 'bytes=-1000' } });
      assert.equal(tail.status, 206);
      assert.ok(tail.body.equals(f.bytes().subarray(f.size - 1000)), 'tail bytes after restart');
      const full = await curl(burl);
      assert.equal(full.code, 0, full.stderr);
      assert.equal(full.status, 200);
      assert.equal(sha256(full.body), f.sha256);
      assert.ok(hub.cdnBodyTransfers('kill.bin') - cdn0 >= 1, 'the file was not fetched again after restart');
      const again = await curl(burl);
      assert.equal(again.headers['x-hubgate-cache'], 'hit');
      assert.equal(sha256(again.body), f.sha256);
    } finally {
      await a?.stop({ keepCache: true });
      await b?.stop({ keepCache: true });
      await rm(dir, { recursive: true, force: true });
    }
  });
});
