// Upstream failures: with the Hub refusing connections or answering 503, public repos the gateway
// has seen still download at `main`, metadata included, marked `X-Hubgate-Stale:
// upstream-unavailable`; a never-fetched repo fails with a clear upstream-unavailable error (never
// 401/404). Upstream 429 with Retry-After: cached content is served (`X-Hubgate-Stale:
// rate-limited`), the rest gets 429 with Retry-After and the RateLimit headers, and upstream is not
// asked again until the back-off is over (requests counted at the fake Hub).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { listFiles, snapshotDownload } from '@huggingface/hub';
import { generateFiles, randomContent, startFakeHub } from '../fakehub/fakehub.mjs';
import {
  byPath,
  checkedFetch,
  curl,
  describeRequests,
  encPath,
  expectedTree,
  hashTree,
  jsonBody,
  makeTempDir,
  nextLink,
  recordingFetch,
  repoPrefix,
  request,
  sha256,
  sleep,
  startGateway,
  stripXet,
  upstreamMark,
  upstreamSince,
} from './helpers.mjs';

const T = { timeout: 60000 };
// The npm client logs every download with console.debug; keep the test output readable.
console.debug = () => {};
const TTL_MS = 300;

// Follows tree pages through the gateway; returns {entries, first (first answer)}.
async function treeAll(startUrl) {
  let url = startUrl;
  const entries = [];
  let first;
  while (url) {
    const r = await request(url);
    assert.equal(r.status, 200, `${url}: ${r.status} ${r.body.toString().slice(0, 200)}`);
    first ??= r;
    entries.push(...jsonBody(r));
    url = nextLink(r.headers.link);
  }
  return { entries, first };
}

const PI_PATHS = ['file-0000.txt', 'data', 'missing.txt'];
const piOpts = () => {
  const body = JSON.stringify({ paths: PI_PATHS, expand: true });
  return { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }, body };
};

describe('upstream down', () => {
  let hub;
  let gw;
  const warm = {};
  let cold;
  const seen = {}; // what the gateway answered while upstream was up

  before(async () => {
    hub = await startFakeHub({ xet: true, treePageSize: 10 });
    for (const type of ['model', 'dataset']) {
      warm[type] = hub.addRepo({ type, id: `org/warm-${type}`, files: generateFiles(`warm-${type}`, 24, { lfsEvery: 5 }) });
    }
    cold = hub.addRepo({ id: 'org/cold', files: [{ path: 'a.txt', content: 'a\n' }, { path: 'b.bin', content: randomContent('cold-b', 50000), lfs: true }] });
    gw = await startGateway({ upstream: hub.url, extraArgs: ['--revision-ttl', `${TTL_MS}ms`, '--connect-timeout', '2s'] });
    // Warm: a full snapshot at main plus the metadata calls clients make.
    for (const [type, repo] of Object.entries(warm)) {
      const dir = await makeTempDir('hubgate-npm-cache-');
      const folder = await snapshotDownload({ repo: { type, name: repo.id }, cacheDir: dir, hubUrl: gw.url, fetch: checkedFetch });
      assert.deepEqual(await hashTree(folder), expectedTree(repo));
      const api = `/api/${type}s/${repo.id}`;
      seen[type] = {
        info: jsonBody(await request(`${gw.url}${api}/revision/main`)),
        infoPlain: jsonBody(await request(`${gw.url}${api}`)),
        tree: (await treeAll(`${gw.url}${api}/tree/main?recursive=true&expand=false`)).entries,
        pathsInfo: jsonBody(await request(`${gw.url}${api}/paths-info/main`, piOpts())),
      };
      assert.equal(seen[type].info.sha, repo.commit);
    }
  }, { timeout: 60000 });

  after(async () => {
    await gw?.stop();
    await hub?.close();
  }, { timeout: 30000 });

  // What must still work with upstream failing (mode names the X-Hubgate-Stale reason).
  async function assertStaleServing(reason) {
    await sleep(TTL_MS + 200); // the branch must need a revision check
    for (const [type, repo] of Object.entries(warm)) {
      const w = `${type} (${reason})`;
      const api = `/api/${type}s/${repo.id}`;
      const info = await request(`${gw.url}${api}/revision/main`);
      assert.equal(info.status, 200, `${w}: revision/main ${info.status} ${info.body.toString().slice(0, 200)}`);
      assert.deepEqual(jsonBody(info), seen[type].info, `${w}: revision/main body`);
      assert.equal(info.headers['x-hubgate-stale'], reason, `${w}: revision/main X-Hubgate-Stale`);
      const plain = await request(`${gw.url}${api}`);
      assert.equal(plain.status, 200, `${w}: info ${plain.status}`);
      assert.deepEqual(jsonBody(plain), seen[type].infoPlain, `${w}: info body`);
      assert.equal(plain.headers['x-hubgate-stale'], reason, `${w}: info X-Hubgate-Stale`);
      const tree = await treeAll(`${gw.url}${api}/tree/main?recursive=true&expand=false`);
      assert.deepEqual(tree.entries, seen[type].tree, `${w}: tree at main`);
      assert.equal(tree.first.headers['x-hubgate-stale'], reason, `${w}: tree at main X-Hubgate-Stale`);
      const pi = await request(`${gw.url}${api}/paths-info/main`, piOpts());
      assert.equal(pi.status, 200, `${w}: paths-info ${pi.status}`);
      assert.deepEqual(byPath(jsonBody(pi)), byPath(seen[type].pathsInfo), `${w}: paths-info at main`);
      assert.equal(pi.headers['x-hubgate-stale'], reason, `${w}: paths-info X-Hubgate-Stale`);
      for (const f of repo.files().slice(0, 6)) {
        const u = `${gw.url}/${repoPrefix(type)}${repo.id}/resolve/main/${encPath(f.path)}`;
        const h = await curl(u, { method: 'HEAD' });
        assert.equal(h.status, 200, `${w}: HEAD ${f.path}: ${h.status}`);
        assert.equal(h.headers['x-repo-commit'], repo.commit, `${w}: HEAD ${f.path}: X-Repo-Commit`);
        assert.equal(h.headers['x-hubgate-stale'], reason, `${w}: HEAD ${f.path}: X-Hubgate-Stale`);
        const g = await curl(u);
        assert.equal(g.status, 200, `${w}: GET ${f.path}: ${g.status}`);
        assert.equal(sha256(g.body), f.sha256, `${w}: GET ${f.path}: bytes`);
      }
      // A full snapshot at main with a fresh client cache.
      const log = [];
      const dir = await makeTempDir('hubgate-npm-cache-');
      const folder = await snapshotDownload({ repo: { type, name: repo.id }, cacheDir: dir, hubUrl: gw.url, fetch: recordingFetch(log) });
      assert.equal(path.basename(folder), repo.commit, `${w}: snapshot commit`);
      assert.deepEqual(await hashTree(folder), expectedTree(repo), `${w}: snapshot content`);
      assert.equal(log[0].stale, reason, `${w}: the snapshot's revision answer is not marked stale`);
      const listing = [];
      for await (const e of listFiles({ repo: { type, name: repo.id }, recursive: true, hubUrl: gw.url, fetch: checkedFetch })) listing.push(e);
      assert.deepEqual(listing, seen[type].tree, `${w}: npm listFiles at main`);
    }
  }

  function assertColdFails(r, what, statuses) {
    assert.ok(statuses.includes(r.status), `${what}: status ${r.status}, expected ${statuses.join(' or ')} (${r.body?.toString().slice(0, 200)})`);
    assert.ok(![401, 403, 404].includes(r.status), `${what}: ${r.status}`);
  }

  test('connection refused: seen repos still served (stale), never-fetched repo gets 502 UpstreamUnavailable', T, async () => {
    await hub.setDown(true, { listener: 'both', mode: 'refuse' });
    try {
      await assertStaleServing('upstream-unavailable');
      for (const u of [`/api/models/${cold.id}`, `/api/models/${cold.id}/revision/main`, `/api/models/${cold.id}/tree/main`, `/${cold.id}/resolve/main/a.txt`, `/${cold.id}/resolve/${cold.commit}/b.bin`]) {
        const r = await request(`${gw.url}${u}`);
        assertColdFails(r, u, [502]);
        assert.equal(r.headers['x-error-code'], 'UpstreamUnavailable', `${u}: X-Error-Code`);
      }
      const pi = await request(`${gw.url}/api/models/${cold.id}/paths-info/main`, piOpts());
      assertColdFails(pi, 'paths-info (cold)', [502]);
      assert.equal(pi.headers['x-error-code'], 'UpstreamUnavailable');
      await assert.rejects(
        snapshotDownload({ repo: { type: 'model', name: cold.id }, cacheDir: await makeTempDir('hubgate-npm-cache-'), hubUrl: gw.url, fetch: checkedFetch }),
        (e) => e.statusCode === 502,
        'npm snapshotDownload of a never-fetched repo must fail with 502',
      );
    } finally {
      await hub.setDown(false, { listener: 'both' });
    }
    // Upstream back: fresh answers are not marked stale any more.
    await sleep(TTL_MS + 200);
    const r = await request(`${gw.url}/api/models/${warm.model.id}/revision/main`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-hubgate-stale'], undefined, 'fresh answer after recovery marked stale');
    const c = await request(`${gw.url}/api/models/${cold.id}/revision/main`);
    assert.equal(c.status, 200, 'never-fetched repo after recovery');
    assert.equal(jsonBody(c).sha, cold.commit);
  });

  test('upstream 503: seen repos still served (stale), never-fetched repo gets an upstream-unavailable error', T, async () => {
    const f = hub.fault({ listener: 'any' }, { status: 503, errorMessage: 'Service Unavailable', body: 'upstream overloaded' });
    const cold2 = hub.addRepo({ id: 'org/cold-503', files: [{ path: 'a.txt', content: 'a\n' }] });
    try {
      await assertStaleServing('upstream-unavailable');
      for (const u of [`/api/models/${cold2.id}`, `/api/models/${cold2.id}/revision/main`, `/api/models/${cold2.id}/tree/main`, `/${cold2.id}/resolve/main/a.txt`]) {
        const r = await request(`${gw.url}${u}`);
        assertColdFails(r, u, [502, 503]);
        assert.ok(r.status === 503 || r.headers['x-error-code'] === 'UpstreamUnavailable', `${u}: ${r.status} without X-Error-Code UpstreamUnavailable`);
      }
      assert.ok(f.hits > 0, 'the 503 fault was never hit: nothing asked upstream');
    } finally {
      f.remove();
    }
    await sleep(TTL_MS + 200);
    const r = await request(`${gw.url}/api/models/${warm.model.id}/revision/main`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-hubgate-stale'], undefined, 'fresh answer after recovery marked stale');
  });
});

describe('upstream 429', () => {
  let hub;
  let gw;
  let repo;
  let cold;

  before(async () => {
    hub = await startFakeHub({ xet: true, treePageSize: 10 });
    repo = hub.addRepo({ id: 'org/rl', files: generateFiles('rl', 20, { lfsEvery: 5 }) });
    cold = hub.addRepo({ id: 'org/rl-cold', files: [{ path: 'a.txt', content: 'a\n' }] });
    gw = await startGateway({ upstream: hub.url, extraArgs: ['--revision-ttl', `${TTL_MS}ms`] });
    const dir = await makeTempDir('hubgate-npm-cache-');
    const folder = await snapshotDownload({ repo: { type: 'model', name: repo.id }, cacheDir: dir, hubUrl: gw.url, fetch: checkedFetch });
    assert.deepEqual(await hashTree(folder), expectedTree(repo));
    // The metadata calls the test makes later, once while upstream is fine.
    assert.equal((await request(`${gw.url}/api/models/${repo.id}/revision/main`)).status, 200);
    assert.equal((await request(`${gw.url}/api/models/${repo.id}/tree/main?recursive=true`)).status, 200);
  }, { timeout: 60000 });

  after(async () => {
    await gw?.stop();
    await hub?.close();
  }, { timeout: 30000 });

  let windowEnd = 0;

  test('Retry-After is honoured: cache served, 429 passed on, upstream not hammered during the back-off', T, async () => {
    const SECONDS = 6;
    await sleep(TTL_MS + 200);
    const f = hub.rateLimit({}, { seconds: SECONDS });
    windowEnd = f.until;
    try {
      await backoffChecks(f, SECONDS);
    } finally {
      f.remove();
    }
  });

  async function backoffChecks(f, SECONDS) {
    const mark = upstreamMark(hub);
    // 1. The cached repo at main: the revision check meets the 429; the cache answers.
    const r1 = await request(`${gw.url}/api/models/${repo.id}/revision/main`);
    assert.equal(r1.status, 200, `cached repo during 429: ${r1.status}`);
    assert.equal(jsonBody(r1).sha, repo.commit);
    assert.equal(r1.headers['x-hubgate-stale'], 'rate-limited', 'X-Hubgate-Stale on the cached answer');
    // 2. Never-fetched content: 429 with Retry-After and the RateLimit headers.
    const r2 = await request(`${gw.url}/api/models/${cold.id}/revision/main`);
    assert.equal(r2.status, 429, `never-fetched repo during 429: ${r2.status}`);
    const ra = Number(r2.headers['retry-after']);
    assert.ok(Number.isInteger(ra) && ra > 0 && ra <= SECONDS, `Retry-After: ${r2.headers['retry-after']}`);
    assert.match(r2.headers.ratelimit ?? '', /^"api";r=0;t=\d+$/, `RateLimit: ${r2.headers.ratelimit}`);
    // 3. Hammer the gateway during the back-off: only cache answers or 429s, no new upstream calls.
    const afterFirst = upstreamSince(hub, mark).length;
    assert.ok(afterFirst >= 1 && afterFirst <= 2, `upstream requests so far: ${describeRequests(upstreamSince(hub, mark))}`);
    let hammeredAt = 0;
    for (let i = 0; i < 6; i++) {
      const a = await request(`${gw.url}/api/models/${repo.id}/revision/main`);
      assert.equal(a.status, 200, `round ${i}: cached info`);
      const t = await request(`${gw.url}/api/models/${repo.id}/tree/main?recursive=true`);
      assert.equal(t.status, 200, `round ${i}: cached tree`);
      const file = repo.files()[i];
      const g = await curl(`${gw.url}/${repo.id}/resolve/main/${encPath(file.path)}`);
      assert.equal(g.status, 200, `round ${i}: cached file`);
      assert.equal(sha256(g.body), file.sha256);
      for (const u of [`/api/models/${cold.id}/revision/main`, `/api/models/${cold.id}/tree/main`, `/api/models/${cold.id}`]) {
        const c = await request(`${gw.url}${u}`);
        assert.equal(c.status, 429, `round ${i}: ${u}: ${c.status}`);
        assert.ok(Number(c.headers['retry-after']) > 0, `round ${i}: ${u}: Retry-After ${c.headers['retry-after']}`);
      }
      if (i === 2) hammeredAt = Date.now();
      await sleep(50);
    }
    const folder = await snapshotDownload({ repo: { type: 'model', name: repo.id }, cacheDir: await makeTempDir('hubgate-npm-cache-'), hubUrl: gw.url, fetch: checkedFetch });
    assert.deepEqual(await hashTree(folder), expectedTree(repo), 'snapshot during the back-off');
    // Requests that reached the fake while the window was open (one 429 per rate-limit bucket at most).
    const during = upstreamSince(hub, mark).filter((q) => q.startedAt < f.until);
    assert.ok(during.length <= 2, `upstream hammered during the back-off (${during.length} requests):\n  ${describeRequests(during)}`);
    assert.ok(hammeredAt < f.until, 'test too slow: the back-off window ended before three rounds of requests');
    // 4. After the window: upstream is asked again and answers fresh.
    await sleep(Math.max(0, f.until - Date.now()) + 300);
    const mark2 = upstreamMark(hub);
    const r3 = await request(`${gw.url}/api/models/${cold.id}/revision/main`);
    assert.equal(r3.status, 200, `after the back-off: ${r3.status}`);
    assert.equal(jsonBody(r3).sha, cold.commit);
    assert.equal(r3.headers['x-hubgate-stale'], undefined);
    assert.ok(upstreamSince(hub, mark2).length >= 1, 'upstream not asked after the back-off');
    const r4 = await request(`${gw.url}/api/models/${repo.id}/revision/main`);
    assert.equal(r4.headers['x-hubgate-stale'], undefined, 'cached repo still marked stale after the back-off');
  }

  test('429 on a first request is passed on with Retry-After and RateLimit', T, async () => {
    await sleep(Math.max(0, windowEnd - Date.now()) + 300); // the previous back-off is over
    const fresh = hub.addRepo({ id: 'org/rl-first', files: [{ path: 'a.txt', content: 'a\n' }] });
    const f = hub.rateLimit({ urlIncludes: fresh.id }, { seconds: 3 });
    try {
      const r = await request(`${gw.url}/api/models/${fresh.id}/tree/main`);
      assert.equal(r.status, 429);
      const ra = Number(r.headers['retry-after']);
      assert.ok(Number.isInteger(ra) && ra > 0 && ra <= 3, `Retry-After: ${r.headers['retry-after']}`);
      assert.match(r.headers.ratelimit ?? '', /^"api";r=0;t=\d+$/, `RateLimit: ${r.headers.ratelimit}`);
      assert.match(r.headers['ratelimit-policy'] ?? '', /"api"/, `RateLimit-Policy: ${r.headers['ratelimit-policy']}`);
    } finally {
      f.remove();
    }
  });
});
