// Bounded cache (issue 6): a 200 MiB quota holds while 600 MiB of distinct files go through it;
// a pinned repo and a blob being streamed to a slow client survive; files that cannot fit (larger
// than the quota, or than the free-disk reserve allows) are still served, uncached.
// Oracles: bytes on disk under blobs/, the fake Hub's transfer log, X-Hubgate-Cache, /metrics.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync, statfsSync } from 'node:fs';
import path from 'node:path';
import { startFakeHub, randomContent } from '../fakehub/fakehub.mjs';
import { delta, request, requestHash, sleep, startGateway, withTimeout } from './helpers.mjs';

const MiB = 1024 * 1024;
const QUOTA = 200 * MiB;
const ADMIN_KEY = 'hgadmin-cache-limits-0123456789abcdef';

// Bytes of published blobs (files under <cache>/blobs).
function blobBytes(cacheDir) {
  let total = 0;
  const walk = (dir) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) total += statSync(p).size;
    }
  };
  walk(path.join(cacheDir, 'blobs'));
  return total;
}

const blobPath = (cacheDir, sha) => path.join(cacheDir, 'blobs', 'sha256', sha.slice(0, 2), sha);

// Deletions chosen by the eviction run on the gateway's blocking pool: give them a moment.
async function settledBlobBytes(cacheDir, limit) {
  let bytes = blobBytes(cacheDir);
  for (let i = 0; i < 40 && bytes > limit; i++) {
    await sleep(50);
    bytes = blobBytes(cacheDir);
  }
  return bytes;
}

function admin(gw, method, p, body) {
  return request(`${gw.url}${p}`, {
    method,
    headers: { Authorization: `Bearer ${ADMIN_KEY}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
}

// A GET whose reader stops after `firstBytes` until resume() is called: the gateway's writes
// block on the full socket, so the response stays in flight as long as the test wants.
function slowGet(url, firstBytes) {
  let res;
  let received = 0;
  const hash = createHash('sha256');
  let reachedResolve;
  const reached = new Promise((r) => (reachedResolve = r));
  const done = new Promise((resolve, reject) => {
    const req = http.get(url, (r) => {
      res = r;
      r.on('data', (c) => {
        received += c.length;
        hash.update(c);
        if (received >= firstBytes && !r.isPaused() && !r.resumed) {
          r.pause();
          reachedResolve();
        }
      });
      r.on('end', () => resolve({ status: r.statusCode, headers: r.headers, received, sha256: hash.digest('hex') }));
      r.on('error', reject);
    });
    req.on('error', reject);
  });
  return {
    reached,
    done,
    resume() {
      res.resumed = true;
      res.resume();
    },
  };
}

describe('cache limits', () => {
  let hub;
  let gw;
  let many;
  let pinned;
  let huge;

  before(async () => {
    hub = await startFakeHub();
    many = hub.addRepo({
      id: 'org/many',
      files: [
        ...Array.from({ length: 12 }, (_, i) => ({
          path: `part-${i}.bin`,
          content: randomContent(`limits-part-${i}`, 50 * MiB),
          lfs: true,
        })),
        { path: 'slow.bin', content: randomContent('limits-slow', 40 * MiB), lfs: true },
      ],
    });
    pinned = hub.addRepo({
      id: 'org/pinned',
      files: [
        { path: 'a.bin', content: randomContent('limits-pin-a', 30 * MiB), lfs: true },
        { path: 'b.txt', content: randomContent('limits-pin-b', 1 * MiB) },
      ],
    });
    huge = hub.addRepo({
      id: 'org/huge',
      files: [{ path: 'huge.bin', content: randomContent('limits-huge', 250 * MiB), lfs: true }],
    });
    gw = await startGateway({
      upstream: hub.url,
      env: {
        HUBGATE_CACHE_MAX_SIZE: '200MiB',
        HUBGATE_EVICTION_INTERVAL: '100ms',
        HUBGATE_ADMIN_KEY: ADMIN_KEY,
      },
    });
  }, { timeout: 60000 });

  after(async () => {
    await gw?.stop();
    await hub?.close();
  }, { timeout: 30000 });

  const url = (repo, p) => `${gw.url}${repo.resolvePath(p)}`;
  const transfers = (p) => hub.cdnBodyTransfers(p) + hub.hubBodyTransfers(p);

  async function download(repo, p) {
    const f = repo.file(p);
    const r = await requestHash(url(repo, p), { timeoutMs: 120000 });
    assert.equal(r.status, 200, `${p}: status ${r.status}`);
    assert.ok(r.complete, `${p}: incomplete: ${r.error?.message}`);
    assert.equal(r.sha256, f.sha256, `${p}: bytes`);
    return r;
  }

  test('600 MiB through a 200 MiB quota: the cache stays under quota, pinned and streaming blobs survive', { timeout: 300000 }, async () => {
    const m0 = await gw.metrics();
    // Pin first, then download the pinned repo.
    const pin = await admin(gw, 'POST', '/admin/pins', { repo: 'org/pinned' });
    assert.equal(pin.status, 201, pin.body.toString());
    for (const p of ['a.bin', 'b.txt']) await download(pinned, p);
    // Cache slow.bin, then start a hit that a slow client reads only 1 MiB of, for now.
    await download(many, 'slow.bin');
    const slowFile = many.file('slow.bin');
    const slow = slowGet(url(many, 'slow.bin'), 1 * MiB);
    await withTimeout(slow.reached, 20000, 'slow client reading its first MiB');

    for (let i = 0; i < 12; i++) {
      const r = await download(many, `part-${i}.bin`);
      assert.equal(r.headers['x-hubgate-cache'], 'miss', `part-${i}: first download is a miss`);
      const bytes = await settledBlobBytes(gw.cacheDir, QUOTA);
      assert.ok(bytes <= QUOTA, `after part-${i}: ${bytes} bytes of blobs on disk > quota ${QUOTA}`);
      assert.ok(existsSync(blobPath(gw.cacheDir, slowFile.sha256)), `after part-${i}: the blob being streamed was evicted`);
    }
    const m1 = await gw.metrics();
    assert.ok(m1.get('hubgate_cache_bytes') <= QUOTA, `hubgate_cache_bytes ${m1.get('hubgate_cache_bytes')}`);
    assert.equal(m1.get('hubgate_cache_max_bytes'), QUOTA);
    assert.ok(delta(m1, m0, 'hubgate_evictions_total') >= 8, `evictions ${delta(m1, m0, 'hubgate_evictions_total')}`);
    assert.equal(delta(m1, m0, 'hubgate_fill_uncached_total'), 0, 'every part fitted after eviction');

    // The slow client finishes with the right bytes.
    slow.resume();
    const s = await withTimeout(slow.done, 60000, 'slow client');
    assert.equal(s.status, 200);
    assert.equal(s.received, slowFile.size);
    assert.equal(s.sha256, slowFile.sha256);

    // The pinned repo is still served from the cache: no upstream body.
    for (const p of ['a.bin', 'b.txt']) {
      const before = transfers(p);
      const r = await download(pinned, p);
      assert.equal(r.headers['x-hubgate-cache'], 'hit', `pinned ${p}`);
      assert.equal(transfers(p), before, `pinned ${p}: upstream body transfers`);
    }
    // The oldest parts are gone: asking again is a miss with the right bytes.
    const again = await download(many, 'part-0.bin');
    assert.equal(again.headers['x-hubgate-cache'], 'miss');

    // The admin view agrees with the disk.
    const st = JSON.parse((await admin(gw, 'GET', '/admin/cache')).body.toString());
    assert.ok(st.bytes <= QUOTA, `admin bytes ${st.bytes}`);
    assert.equal(st.max_bytes, QUOTA);
    assert.equal(st.pinned_bytes, pinned.file('a.bin').size + pinned.file('b.txt').size);
    const onDisk = await settledBlobBytes(gw.cacheDir, st.bytes);
    assert.equal(onDisk, st.bytes, 'blob bytes on disk = accounted bytes');
  });

  test('a file larger than the quota is served uncached, every time', { timeout: 120000 }, async () => {
    const f = huge.file('huge.bin');
    const m0 = await gw.metrics();
    for (let round = 0; round < 2; round++) {
      const before = transfers('huge.bin');
      const r = await download(huge, 'huge.bin');
      assert.equal(r.headers['x-hubgate-cache'], 'pass');
      assert.equal(r.headers['x-hubgate-scan'], 'unscanned');
      assert.equal(transfers('huge.bin'), before + 1, 'one upstream transfer per request');
      assert.equal(r.length, f.size);
    }
    const m1 = await gw.metrics();
    assert.equal(delta(m1, m0, 'hubgate_fill_uncached_total'), 2);
    assert.equal(delta(m1, m0, 'hubgate_served_bytes_total', { source: 'pass_through' }), 2 * f.size);
    assert.ok(!existsSync(blobPath(gw.cacheDir, f.sha256)), 'no blob written');
    assert.ok(blobBytes(gw.cacheDir) <= QUOTA);
    // A range of it is passed through too.
    const range = await request(url(huge, 'huge.bin'), { headers: { Range: 'bytes=1000-1999' } });
    assert.equal(range.status, 206);
    assert.equal(range.body.length, 1000);
    assert.equal(range.headers['x-hubgate-cache'], 'pass');
  });
});

describe('free-disk reserve', () => {
  let hub;
  let repo;

  before(async () => {
    hub = await startFakeHub();
    repo = hub.addRepo({
      id: 'org/reserve',
      files: [{ path: 'w.bin', content: randomContent('reserve-w', 64 * MiB), lfs: true }],
    });
  });
  after(async () => {
    await hub?.close();
  });

  async function withReserveBelowFree(extraEnv, fn) {
    // A reserve that leaves 16 MiB of the free space usable: a 64 MiB fill cannot fit.
    const probe = await startGateway({ upstream: hub.url });
    const st = statfsSync(probe.cacheDir);
    const cacheDir = probe.cacheDir;
    await probe.stop({ keepCache: true });
    const reserve = st.bavail * st.bsize - 16 * MiB;
    const gw = await startGateway({
      upstream: hub.url,
      cacheDir,
      env: { HUBGATE_CACHE_MIN_FREE: String(Math.max(reserve, 0)), ...extraEnv },
    });
    try {
      await fn(gw);
    } finally {
      await gw.stop();
    }
  }

  test('a fill larger than the free space is still served, uncached', { timeout: 60000 }, async () => {
    await withReserveBelowFree({}, async (gw) => {
      const f = repo.file('w.bin');
      const m0 = await gw.metrics();
      const r = await requestHash(`${gw.url}${repo.resolvePath('w.bin')}`, { timeoutMs: 60000 });
      assert.equal(r.status, 200);
      assert.ok(r.complete, r.error?.message);
      assert.equal(r.sha256, f.sha256);
      assert.equal(r.headers['x-hubgate-cache'], 'pass');
      const m1 = await gw.metrics();
      assert.equal(delta(m1, m0, 'hubgate_fill_uncached_total'), 1);
      assert.equal(blobBytes(gw.cacheDir), 0, 'nothing cached');
    });
  });

  test('scan.on_unscanned = block refuses what cannot be cached and scanned', { timeout: 60000 }, async () => {
    await withReserveBelowFree({ HUBGATE_SCAN_ON_UNSCANNED: 'block' }, async (gw) => {
      const r = await request(`${gw.url}${repo.resolvePath('w.bin')}`);
      assert.equal(r.status, 403);
      assert.equal(r.headers['x-error-code'], 'UnscannedBlocked');
      assert.match(r.headers['x-error-message'], /does not fit in the cache/);
    });
  });
});
