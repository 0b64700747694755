// Range and conditional requests on /resolve: on warm files, and on cold files while another
// client is downloading them (the upstream transfer held by a gate).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeHub, randomContent } from '../fakehub/fakehub.mjs';
import { request, requestHash, startGateway, withTimeout } from './helpers.mjs';

const T = { timeout: 60000 };

// [Range header, expected] for a file of `size` bytes. expected: [start, end] or 416.
function rangeCases(size) {
  const k = Math.floor(size / 3);
  return [
    ['bytes=0-0', [0, 0]],
    ['bytes=0-100000', [0, Math.min(100000, size - 1)]],
    [`bytes=${k}-`, [k, size - 1]],
    ['bytes=-1000', [size - 1000, size - 1]],
    [`bytes=10-${Math.min(5009, size - 1)}`, [10, Math.min(5009, size - 1)]],
    [`bytes=${size - 1}-${size + 5000}`, [size - 1, size - 1]],
    [`bytes=${size}-`, 416],
    [`bytes=${size + 100}-${size + 200}`, 416],
  ];
}

async function checkRange(u, f, bytes, header, expected, what) {
  const r = await request(u, { headers: { Range: header } });
  const label = `${what} Range: ${header}`;
  if (expected === 416) {
    assert.equal(r.status, 416, `${label}: status`);
    assert.equal(r.headers['content-range'], `bytes */${f.size}`, `${label}: Content-Range`);
    return;
  }
  const [start, end] = expected;
  assert.equal(r.status, 206, `${label}: status`);
  assert.equal(r.headers['content-range'], `bytes ${start}-${end}/${f.size}`, `${label}: Content-Range`);
  assert.equal(r.headers['content-length'], String(end - start + 1), `${label}: Content-Length`);
  assert.equal(r.headers.etag, f.etag, `${label}: ETag`);
  assert.equal(r.body.length, end - start + 1, `${label}: body length`);
  assert.ok(r.body.equals(bytes.subarray(start, end + 1)), `${label}: body bytes`);
}

describe('range', () => {
  let hub;
  let gw;
  let repo;

  before(async () => {
    hub = await startFakeHub({ xet: true });
    repo = hub.addRepo({
      id: 'org/ranges',
      files: [
        { path: 'warm.json', content: randomContent('rng-warm-json', 50000) },
        { path: 'warm-lfs.bin', content: randomContent('rng-warm-lfs', 60000), lfs: true },
        { path: 'warm-big.bin', content: randomContent('rng-warm-big', 3 * 1024 * 1024 + 5), lfs: true },
        { path: 'cold.json', content: randomContent('rng-cold-json', 70000) },
        { path: 'cold-lfs.bin', content: randomContent('rng-cold-lfs', 80000), lfs: true },
        { path: 'cold-big.bin', content: randomContent('rng-cold-big', 4 * 1024 * 1024 + 7), lfs: true },
        { path: 'inm.txt', content: randomContent('rng-inm-txt', 3000) },
        { path: 'inm.bin', content: randomContent('rng-inm-bin', 300000), lfs: true },
      ],
    });
    gw = await startGateway({ upstream: hub.url });
  }, { timeout: 60000 });

  after(async () => {
    await gw?.stop();
    await hub?.close();
  }, { timeout: 30000 });

  const url = (path, rev = 'main') => `${gw.url}${repo.resolvePath(path, rev)}`;

  for (const path of ['warm.json', 'warm-lfs.bin', 'warm-big.bin']) {
    test(`ranges on a warm file: ${path}`, T, async () => {
      const f = repo.file(path);
      const bytes = f.bytes();
      const full = await requestHash(url(path));
      assert.equal(full.status, 200);
      assert.equal(full.sha256, f.sha256);
      const h = await request(url(path));
      assert.equal(h.headers['x-hubgate-cache'], 'hit', 'file not warm');
      for (const rev of ['main', repo.commit]) {
        for (const [header, expected] of rangeCases(f.size)) await checkRange(url(path, rev), f, bytes, header, expected, `warm ${path}@${rev}`);
      }
    });
  }

  for (const [path, listener] of [['cold.json', 'hub'], ['cold-lfs.bin', 'cdn'], ['cold-big.bin', 'cdn']]) {
    test(`ranges on a cold file while another client downloads it: ${path}`, T, async () => {
      const f = repo.file(path);
      const bytes = f.bytes();
      const pauseAt = Math.floor(f.size / 2);
      const hold = hub.fault({ listener, path }, { pauseAt });
      let downloader;
      try {
        downloader = requestHash(url(path), { timeoutMs: 50000 });
        await withTimeout(hold.gate.reached, 20000, `upstream transfer of ${path} reaching 50%`);
        // Ranges over bytes already fetched, and unsatisfiable ones (the size is known from the
        // metadata), are answered while the upstream transfer is held.
        const early = rangeCases(f.size).filter(([, e]) => e === 416 || e[1] < pauseAt);
        assert.ok(early.length >= 3);
        await withTimeout(
          Promise.all(early.map(([header, expected]) => checkRange(url(path), f, bytes, header, expected, `cold ${path} (held)`))),
          15000,
          `ranges within the fetched part of ${path} while the fill is held`,
        );
        // The rest wait for the fill (or are fetched otherwise) and complete after release.
        const late = rangeCases(f.size)
          .filter(([, e]) => e !== 416 && e[1] >= pauseAt)
          .map(([header, expected]) => checkRange(url(path, repo.commit), f, bytes, header, expected, `cold ${path} (after release)`));
        hold.gate.release();
        await Promise.all(late);
      } finally {
        hold.gate.release();
      }
      const d = await downloader;
      assert.equal(d.status, 200);
      assert.ok(d.complete, d.error?.message);
      assert.equal(d.sha256, f.sha256, 'the full download');
      // Warm now: the same cases still hold.
      for (const [header, expected] of rangeCases(f.size)) await checkRange(url(path), f, bytes, header, expected, `now-warm ${path}`);
    });
  }

  test('If-None-Match with the ETag: 304 on a cold file and on a warm one', T, async () => {
    for (const path of ['inm.txt', 'inm.bin']) {
      const f = repo.file(path);
      for (const rev of ['main', repo.commit]) {
        const r = await request(url(path, rev), { headers: { 'If-None-Match': f.etag } });
        assert.equal(r.status, 304, `cold ${path}@${rev}: If-None-Match ${f.etag}`);
        assert.equal(r.body.length, 0);
        assert.equal(r.headers.etag, f.etag, `cold ${path}@${rev}: 304 ETag`);
      }
      const other = await request(url(path), { headers: { 'If-None-Match': '"0000000000000000000000000000000000000000"' } });
      assert.equal(other.status, 200, `${path}: non-matching If-None-Match`);
      assert.equal(other.body.length, f.size);
      assert.ok(other.body.equals(f.bytes()));
      const warm = await request(url(path), { headers: { 'If-None-Match': f.etag } });
      assert.equal(warm.status, 304, `warm ${path}: If-None-Match`);
      assert.equal(warm.body.length, 0);
      const list = await request(url(path, repo.commit), { headers: { 'If-None-Match': `"abc", ${f.etag}` } });
      assert.equal(list.status, 304, `warm ${path}: If-None-Match list`);
    }
  });
});
