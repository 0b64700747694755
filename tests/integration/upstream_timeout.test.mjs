// Upstream that accepts connections but does not answer (first-byte timeout): like a refused
// connection, a repo the gateway has seen is still served at `main` (marked `X-Hubgate-Stale:
// upstream-unavailable`) and a never-fetched repo fails with a clear upstream error (502
// UpstreamUnavailable or 504 UpstreamTimeout; never 401/404).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { snapshotDownload } from '@huggingface/hub';
import { generateFiles, startFakeHub } from '../fakehub/fakehub.mjs';
import { checkedFetch, expectedTree, hashTree, jsonBody, makeTempDir, request, sha256, sleep, startGateway } from './helpers.mjs';

const T = { timeout: 60000 };
// The npm client logs every download with console.debug; keep the test output readable.
console.debug = () => {};
const TTL_MS = 300;

describe('upstream hangs', () => {
  let hub;
  let gw;
  let repo;
  let info;

  before(async () => {
    hub = await startFakeHub({ xet: true });
    repo = hub.addRepo({ id: 'org/hang', files: generateFiles('hang', 12, { lfsEvery: 4 }) });
    gw = await startGateway({ upstream: hub.url, extraArgs: ['--revision-ttl', `${TTL_MS}ms`, '--first-byte-timeout', '1s'] });
    const folder = await snapshotDownload({ repo: { type: 'model', name: repo.id }, cacheDir: await makeTempDir('hubgate-npm-cache-'), hubUrl: gw.url, fetch: checkedFetch });
    assert.deepEqual(await hashTree(folder), expectedTree(repo));
    info = jsonBody(await request(`${gw.url}/api/models/${repo.id}/revision/main`));
  }, { timeout: 60000 });

  after(async () => {
    await gw?.stop();
    await hub?.close();
  }, { timeout: 30000 });

  test('first-byte timeout: seen repo served stale, never-fetched repo 502/504 with an upstream error code', T, async () => {
    const cold = hub.addRepo({ id: 'org/hang-cold', files: [{ path: 'a.txt', content: 'a\n' }] });
    const f = hub.fault({ listener: 'any' }, { delayMs: 5000 });
    try {
      await sleep(TTL_MS + 200);
      const t0 = Date.now();
      const r = await request(`${gw.url}/api/models/${repo.id}/revision/main`);
      assert.equal(r.status, 200, `revision/main: ${r.status}`);
      assert.deepEqual(jsonBody(r), info);
      assert.equal(r.headers['x-hubgate-stale'], 'upstream-unavailable');
      assert.ok(Date.now() - t0 < 4500, `answer took ${Date.now() - t0} ms: the first-byte timeout was not applied`);
      const file = repo.files()[0];
      const g = await request(`${gw.url}/${repo.id}/resolve/main/${file.path.split('/').map(encodeURIComponent).join('/')}`);
      assert.equal(g.status, 200);
      assert.equal(sha256(g.body), file.sha256);
      const folder = await snapshotDownload({ repo: { type: 'model', name: repo.id }, cacheDir: await makeTempDir('hubgate-npm-cache-'), hubUrl: gw.url, fetch: checkedFetch });
      assert.equal(path.basename(folder), repo.commit);
      assert.deepEqual(await hashTree(folder), expectedTree(repo));
      for (const u of [`/api/models/${cold.id}/revision/main`, `/${cold.id}/resolve/main/a.txt`]) {
        const c = await request(`${gw.url}${u}`);
        assert.ok([502, 504].includes(c.status), `${u}: ${c.status}`);
        assert.ok(c.headers['x-error-message'], `${u}: no X-Error-Message`);
        assert.ok(['UpstreamUnavailable', 'UpstreamTimeout'].includes(c.headers['x-error-code']), `${u}: X-Error-Code ${c.headers['x-error-code']}`);
      }
      assert.ok(f.hits > 0, 'upstream never asked');
    } finally {
      f.remove();
    }
  });
});
