// /resolve through the gateway with curl: bytes and headers equal the fake Hub's, cold and warm,
// regular and LFS files, branch and commit revisions, model/dataset/space prefixes; HEAD from
// metadata only; revision and path encodings; no Xet hint ever; Authorization never reaches the
// CDN; /health and /metrics.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeHub, randomContent } from '../fakehub/fakehub.mjs';
import { curl, delta, request, sha256, startGateway, withTimeout } from './helpers.mjs';

const T = { timeout: 60000 };
const TYPES = ['model', 'dataset', 'space'];

describe('resolve', () => {
  let hub;
  let gw;
  const repos = {};
  let revs;

  before(async () => {
    hub = await startFakeHub({ xet: true });
    hub.addToken('tok-client', { name: 'client' });
    for (const type of TYPES) {
      repos[type] = hub.addRepo({
        type,
        id: `org/${type}-repo`,
        files: [
          { path: 'reg-a.txt', content: randomContent(`${type}-reg-a`, 5000) },
          { path: 'reg-b.json', content: Buffer.from(JSON.stringify({ type, n: 42 }) + '\n') },
          { path: 'lfs-a.bin', content: randomContent(`${type}-lfs-a`, 2 * 1024 * 1024 + 3), lfs: true },
          { path: 'lfs-b.safetensors', content: randomContent(`${type}-lfs-b`, 1024 * 1024 + 7), lfs: true },
          { path: 'head.bin', content: randomContent(`${type}-head`, 4 * 1024 * 1024), lfs: true },
          { path: 'head.txt', content: randomContent(`${type}-head-txt`, 3000) },
          { path: 'auth.bin', content: randomContent(`${type}-auth`, 1024 * 1024), lfs: true },
          { path: 'auth.txt', content: Buffer.from('authorized text\n') },
          { path: 'metrics.txt', content: randomContent(`${type}-metrics`, 5000) },
        ],
      });
    }
    // Revision and path encodings: main moved past the tag; PR 1 on its own commit.
    revs = hub.addRepo({
      id: 'org/revs',
      files: [
        { path: 'README.md', content: 'one\n' },
        { path: 'sub dir/a b.txt', content: 'space in names\n' },
        { path: 'x#y.txt', content: 'hash in name\n' },
        { path: 'ünï/ファイル.txt', content: 'unicode name\n' },
        { path: 'a/b/c/d.txt', content: 'nested\n' },
        { path: 'w.bin', content: randomContent('revs-w1', 300000), lfs: true },
      ],
      tags: { 'v1.0': null },
    });
    revs.c1 = revs.commit;
    revs.c2 = revs.addCommit({ base: revs.c1, files: [{ path: 'README.md', content: 'pr one\n' }, { path: 'w.bin', content: randomContent('revs-w2', 300001), lfs: true }] });
    revs.setPr(1, revs.c2);
    revs.c3 = revs.addCommit({ base: revs.c1, branch: 'main', files: [{ path: 'README.md', content: 'three\n' }] });
    gw = await startGateway({ upstream: hub.url });
  }, { timeout: 60000 });

  after(async () => {
    await gw?.stop();
    await hub?.close();
  }, { timeout: 30000 });

  const url = (repo, path, rev = 'main') => `${gw.url}${repo.resolvePath(path, rev)}`;

  function assertFileHeaders(r, repo, f, what) {
    assert.equal(r.headers['x-repo-commit'], repo.commit, `${what}: X-Repo-Commit`);
    assert.equal(r.headers.etag, f.etag, `${what}: ETag`);
    assert.equal(r.headers['content-length'], String(f.size), `${what}: Content-Length`);
    assert.equal(r.headers['accept-ranges'], 'bytes', `${what}: Accept-Ranges`);
    if (f.lfs) {
      assert.equal(r.headers['x-linked-etag'], `"${f.sha256}"`, `${what}: X-Linked-Etag`);
      assert.equal(r.headers['x-linked-size'], String(f.size), `${what}: X-Linked-Size`);
    }
  }

  for (const type of TYPES) {
    test(`curl ${type}: regular and LFS, branch and commit, cold then warm`, T, async () => {
      const repo = repos[type];
      const cases = [
        ['reg-a.txt', 'main'],
        ['reg-b.json', repo.commit],
        ['lfs-a.bin', 'main'],
        ['lfs-b.safetensors', repo.commit],
      ];
      for (const [path, coldRev] of cases) {
        const f = repo.file(path);
        const what = `${type} ${path}`;
        const m0 = await gw.metrics();
        const cdn0 = hub.cdnBodyTransfers(path, { repo: repo.key });
        const hubBody0 = hub.hubBodyTransfers(path, { repo: repo.key });
        const cold = await curl(url(repo, path, coldRev));
        assert.equal(cold.code, 0, `${what} cold: curl exit ${cold.code} ${cold.stderr}`);
        assert.equal(cold.status, 200, `${what} cold status`);
        assert.equal(sha256(cold.body), f.sha256, `${what} cold bytes`);
        assertFileHeaders(cold, repo, f, `${what} cold @${coldRev}`);
        assert.equal(cold.headers['x-hubgate-cache'], 'miss', `${what} cold X-Hubgate-Cache`);
        assert.equal(cold.headers.location, undefined, `${what}: no redirect to the CDN`);
        const m1 = await gw.metrics();
        assert.equal(delta(m1, m0, 'hubgate_cache_misses_total'), 1, `${what}: cache_misses +1`);
        // Exactly one upstream body transfer for the cold fill, from the right place.
        if (f.lfs) {
          assert.equal(hub.cdnBodyTransfers(path, { repo: repo.key }) - cdn0, 1, `${what}: one CDN body transfer`);
        } else {
          assert.equal(hub.hubBodyTransfers(path, { repo: repo.key }) - hubBody0, 1, `${what}: one Hub body transfer`);
        }

        const cdn1 = hub.cdnBodyTransfers(path, { repo: repo.key });
        const hubGets1 = hub.countRequests({ listener: 'hub', method: 'GET', path, repo: repo.key });
        for (const rev of ['main', repo.commit]) {
          const warm = await curl(url(repo, path, rev));
          assert.equal(warm.code, 0, `${what} warm: curl exit ${warm.code}`);
          assert.equal(warm.status, 200);
          assert.equal(sha256(warm.body), f.sha256, `${what} warm @${rev} bytes`);
          assertFileHeaders(warm, repo, f, `${what} warm @${rev}`);
          assert.equal(warm.headers['x-hubgate-cache'], 'hit', `${what} warm @${rev} X-Hubgate-Cache`);
        }
        const m2 = await gw.metrics();
        assert.equal(hub.cdnBodyTransfers(path, { repo: repo.key }), cdn1, `${what}: warm downloads caused a CDN body transfer`);
        assert.equal(hub.countRequests({ listener: 'hub', method: 'GET', path, repo: repo.key }), hubGets1, `${what}: warm downloads sent a GET to the Hub`);
        assert.equal(delta(m2, m1, 'hubgate_cache_hits_total'), 2, `${what}: cache_hits +2`);
        assert.equal(delta(m2, m1, 'hubgate_upstream_body_bytes_total'), 0, `${what}: no upstream body bytes when warm`);
      }
    });
  }

  test('regular file at a branch when the Hub answers 200 directly (no resolve-cache hop)', T, async () => {
    const repo = hub.addRepo({ id: 'org/direct', files: [{ path: 'direct.txt', content: randomContent('direct', 7000) }] });
    const f = repo.file('direct.txt');
    hub.options.redirectRegularAtBranch = false;
    try {
      for (const expected of ['miss', 'hit']) {
        const r = await curl(url(repo, 'direct.txt'));
        assert.equal(r.status, 200);
        assert.equal(sha256(r.body), f.sha256);
        assertFileHeaders(r, repo, f, `direct ${expected}`);
        assert.equal(r.headers['x-hubgate-cache'], expected);
      }
      assert.equal(hub.countRequests({ listener: 'hub', path: 'direct.txt', where: (q) => q.status === 307 }), 0);
    } finally {
      hub.options.redirectRegularAtBranch = true;
    }
  });

  test('HEAD on a cold file answers from metadata without touching the body', T, async () => {
    for (const type of TYPES) {
      const repo = repos[type];
      // Any CDN request for the LFS file, or a Hub GET for the regular one, would hang here.
      const cdnHold = hub.fault({ listener: 'cdn', path: 'head.bin', repo: repo.key }, { holdHeaders: true });
      const hubHold = hub.fault({ listener: 'hub', path: 'head.txt', repo: repo.key, method: 'GET' }, { holdHeaders: true });
      try {
        for (const [path, rev] of [['head.bin', 'main'], ['head.txt', 'main'], ['head.bin', repo.commit], ['head.txt', repo.commit]]) {
          const f = repo.file(path);
          const r = await withTimeout(curl(url(repo, path, rev), { method: 'HEAD', timeoutMs: 8000 }), 12000, `HEAD ${type} ${path}`);
          assert.equal(r.code, 0, `HEAD ${type} ${path}: curl exit ${r.code} ${r.stderr}`);
          assert.equal(r.status, 200, `HEAD ${type} ${path}`);
          assertFileHeaders(r, repo, f, `HEAD ${type} ${path} @${rev}`);
          assert.equal(r.body.length, 0);
        }
        assert.equal(hub.countRequests({ listener: 'cdn', path: 'head.bin', repo: repo.key }), 0, `${type}: HEAD reached the CDN`);
        assert.equal(hub.countRequests({ listener: 'hub', method: 'GET', path: 'head.txt', repo: repo.key }), 0, `${type}: HEAD caused a Hub GET`);
      } finally {
        cdnHold.remove();
        hubHold.remove();
      }
    }
  });

  test('revision encodings: refs%2Fpr%2F1, refs/pr/1, tag, full commit, branch', T, async () => {
    const cases = [
      ['refs%2Fpr%2F1', 'README.md', 'pr one\n', revs.c2],
      ['refs/pr/1', 'README.md', 'pr one\n', revs.c2],
      ['v1.0', 'README.md', 'one\n', revs.c1],
      [revs.c1, 'README.md', 'one\n', revs.c1],
      [revs.c3, 'README.md', 'three\n', revs.c3],
      ['main', 'README.md', 'three\n', revs.c3],
    ];
    for (const [rev, path, text, commit] of cases) {
      const r = await curl(`${gw.url}/org/revs/resolve/${rev}/${path}`);
      assert.equal(r.status, 200, `rev ${rev}`);
      assert.equal(r.body.toString(), text, `rev ${rev}: bytes`);
      assert.equal(r.headers['x-repo-commit'], commit, `rev ${rev}: X-Repo-Commit`);
    }
    for (const [rev, commit, seed] of [['refs%2Fpr%2F1', revs.c2, 2], ['refs/pr/1', revs.c2, 2], ['v1.0', revs.c1, 1], [revs.c1, revs.c1, 1]]) {
      const f = revs.file('w.bin', commit);
      const r = await curl(`${gw.url}/org/revs/resolve/${rev}/w.bin`);
      assert.equal(r.status, 200, `LFS rev ${rev}`);
      assert.equal(sha256(r.body), f.sha256, `LFS rev ${rev}: bytes (seed ${seed})`);
      assert.equal(r.headers['x-repo-commit'], commit);
      assert.equal(r.headers.etag, `"${f.sha256}"`);
    }
  });

  test('file names with spaces, #, unicode and nested folders', T, async () => {
    const cases = [
      ['sub%20dir/a%20b.txt', 'space in names\n'],
      ['x%23y.txt', 'hash in name\n'],
      [`${encodeURIComponent('ünï')}/${encodeURIComponent('ファイル.txt')}`, 'unicode name\n'],
      ['a/b/c/d.txt', 'nested\n'],
    ];
    for (const rev of ['main', revs.c3]) {
      for (const [p, text] of cases) {
        const r = await curl(`${gw.url}/org/revs/resolve/${rev}/${p}`);
        assert.equal(r.status, 200, `${p} @${rev}`);
        assert.equal(r.body.toString(), text, `${p} @${rev}`);
        assert.equal(r.headers['x-repo-commit'], revs.c3);
      }
    }
  });

  test('no Xet hint with the fake Xet switch on; Authorization reaches the Hub, never the CDN', T, async () => {
    assert.equal(hub.options.xet, true);
    const auth = { Authorization: 'Bearer tok-client' };
    for (const type of TYPES) {
      const repo = repos[type];
      for (const path of ['auth.bin', 'auth.txt']) {
        const f = repo.file(path);
        for (const method of ['HEAD', 'GET']) {
          // The wrappers fail on any X-Xet-* header, xet Link relation or fileinfo content type.
          const r = await curl(url(repo, path), { method, headers: { ...auth, Accept: 'application/vnd.xet-fileinfo+json, */*' } });
          assert.equal(r.status, 200, `${method} ${type} ${path}`);
          if (method === 'GET') assert.equal(sha256(r.body), f.sha256);
        }
        const hubReqs = hub.findRequests({ listener: 'hub', path, repo: repo.key });
        assert.ok(hubReqs.length >= 1, `${type} ${path}: the Hub saw no request`);
        assert.ok(hubReqs.some((q) => q.authorization === 'Bearer tok-client'), `${type} ${path}: client token not forwarded to the Hub`);
      }
      const cdnReqs = hub.findRequests({ listener: 'cdn', path: 'auth.bin', repo: repo.key });
      assert.ok(cdnReqs.length >= 1, `${type}: the CDN saw no request for auth.bin`);
      assert.deepEqual(cdnReqs.filter((q) => q.hasAuth).map((q) => q.authorization), [], `${type}: Authorization sent to the CDN`);
    }
    // The Xet fileinfo media type must not be forwarded upstream.
    const leaked = hub.findRequests({ where: (q) => /vnd\.xet-fileinfo/.test(q.headers.accept ?? '') });
    assert.deepEqual(leaked.map((q) => `${q.listener} ${q.method} ${q.path}`), [], 'Accept: application/vnd.xet-fileinfo+json forwarded upstream');
    // Over everything this file did so far: no Authorization ever reached the CDN.
    assert.equal(hub.countRequests({ listener: 'cdn', hasAuth: true }), 0);
  });

  test('/health answers 200; /metrics parses and agrees with the traffic', T, async () => {
    const h = await curl(`${gw.url}/health`);
    assert.equal(h.status, 200);
    const m0 = await gw.metrics(); // parsePrometheus is strict: malformed lines throw
    for (const name of [
      'hubgate_requests_total',
      'hubgate_cache_hits_total',
      'hubgate_cache_misses_total',
      'hubgate_served_bytes_total',
      'hubgate_upstream_body_bytes_total',
      'hubgate_fill_started_total',
      'hubgate_fill_joined_total',
      'hubgate_fill_failed_total',
      'hubgate_fill_completed_total',
      'hubgate_fill_resumed_total',
      'hubgate_digest_mismatch_total',
    ]) {
      assert.ok(m0.has(name), `/metrics lacks ${name}`);
      if (m0.types.has(name)) assert.equal(m0.types.get(name), 'counter', `${name} TYPE`);
    }
    assert.ok(m0.has('hubgate_served_bytes_total', { source: 'cache' }) || m0.has('hubgate_served_bytes_total'), 'served_bytes source=cache');

    const repo = repos.model;
    const f = repo.file('metrics.txt');
    const r1 = await request(url(repo, 'metrics.txt'));
    assert.equal(r1.status, 200);
    assert.equal(sha256(r1.body), f.sha256);
    for (let i = 0; i < 2; i++) {
      const r = await request(url(repo, 'metrics.txt', i ? repo.commit : 'main'));
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-hubgate-cache'], 'hit');
    }
    const nf = await request(url(repo, 'does-not-exist.txt'));
    assert.equal(nf.status, 404);
    const m1 = await gw.metrics();
    const req = (status) => delta(m1, m0, 'hubgate_requests_total', { route: 'resolve', status: String(status) });
    assert.equal(req(200), 3, 'requests_total{route="resolve",status="200"}');
    assert.equal(req(404), 1, 'requests_total{route="resolve",status="404"}');
    assert.equal(delta(m1, m0, 'hubgate_cache_misses_total'), 1, 'cache_misses');
    assert.equal(delta(m1, m0, 'hubgate_cache_hits_total'), 2, 'cache_hits');
    assert.equal(delta(m1, m0, 'hubgate_served_bytes_total', { source: 'cache' }), 2 * f.size, 'served_bytes{source="cache"}');
    assert.equal(delta(m1, m0, 'hubgate_served_bytes_total', { source: 'fill' }), f.size, 'served_bytes{source="fill"}');
    assert.equal(delta(m1, m0, 'hubgate_fill_started_total'), 1, 'fill_started');
    assert.equal(delta(m1, m0, 'hubgate_fill_completed_total'), 1, 'fill_completed');
    assert.equal(delta(m1, m0, 'hubgate_fill_failed_total'), 0, 'fill_failed');
    const up = delta(m1, m0, 'hubgate_upstream_body_bytes_total');
    assert.ok(up >= f.size && up <= f.size + 4096, `upstream_body_bytes ${up} for a ${f.size}-byte file`);

    const hd = await request(url(repo, 'metrics.txt'), { method: 'HEAD' });
    assert.equal(hd.status, 200);
    const m2 = await gw.metrics();
    assert.equal(delta(m2, m1, 'hubgate_requests_total', { route: 'resolve', status: '200' }), 1, 'HEAD counted');
    assert.equal(delta(m2, m1, 'hubgate_upstream_body_bytes_total'), 0, 'HEAD moved no upstream body');
  });
});
