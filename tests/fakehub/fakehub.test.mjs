// Conformance check of the fake Hub itself (no gateway): curl and fetch straight against it.
// If the fake drifts from docs/hub-protocol.md §4/§5/§6/§10, these fail before any gateway test
// can be misled.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startFakeHub, randomContent, gitBlobSha1, sha256Hex, GeneratedContent } from './fakehub.mjs';
import { curl, request as request0, sha256, withTimeout, cleanEnv, linkRels } from '../integration/helpers.mjs';

const T = { timeout: 30000 };
const raw = (url, opts = {}) => curl(url, { ...opts, checkXet: false });
const request = (url, opts = {}) => request0(url, { ...opts, checkXet: false });

describe('fakehub', () => {
  let hub;
  let repo;
  let ds;
  let sp;
  let priv;
  let gated;
  const readme = Buffer.from('# hello\n');
  const big = randomContent('fakehub-big', 3 * 1024 * 1024 + 17);
  const weird = Buffer.from('weird name\n');

  before(async () => {
    hub = await startFakeHub({ xet: true, treePageSize: 2 });
    hub.addToken('tok-reader', { name: 'reader' });
    hub.addToken('tok-other', { name: 'other' });
    repo = hub.addRepo({
      id: 'org/model',
      files: [
        { path: 'README.md', content: readme },
        { path: 'config.json', content: '{"a":1}\n' },
        { path: 'model.bin', content: big, lfs: true },
        { path: 'sub dir/a #1.txt', content: weird },
        { path: 'nested/deep/x.txt', content: 'x' },
        { path: 'ünï.txt', content: 'unicode' },
      ],
      tags: { v1: null },
      prs: { 1: null },
    });
    ds = hub.addRepo({ type: 'dataset', id: 'org/data', files: [{ path: 'train.csv', content: 'a,b\n1,2\n' }] });
    sp = hub.addRepo({ type: 'space', id: 'org/space', files: [{ path: 'app.py', content: 'print(1)\n' }] });
    priv = hub.addRepo({ id: 'org/private', private: true, readers: ['tok-reader'], files: [{ path: 'f.txt', content: 'secret' }] });
    gated = hub.addRepo({ id: 'org/gated', gated: 'manual', approved: ['tok-reader'], files: [{ path: 'f.txt', content: 'gated' }] });
  }, { timeout: 60000 });
  after(async () => {
    await hub?.close();
  }, { timeout: 30000 });

  test('content helpers are deterministic', T, () => {
    // Speed is not asserted (machine load varies); generation is AES-CTR by offset.
    const a = randomContent('seed', 64 * 1024 * 1024);
    const g = new GeneratedContent('seed', 64 * 1024 * 1024);
    assert.ok(g.read(12345, 100000).equals(a.subarray(12345, 112345)));
    assert.ok(!randomContent('other', 1024).equals(a.subarray(0, 1024)));
    assert.equal(gitBlobSha1(Buffer.from('hello\n')), 'ce013625030ba8dba906f756967f9e9ca394464a');
  });

  test('regular file at a commit: 200 with Hub headers', T, async () => {
    const f = repo.file('README.md');
    for (const method of ['GET', 'HEAD']) {
      const r = await raw(`${hub.url}/org/model/resolve/${repo.commit}/README.md`, { method });
      assert.equal(r.status, 200);
      assert.equal(r.headers.etag, `"${gitBlobSha1(readme)}"`);
      assert.equal(r.headers.etag, f.etag);
      assert.equal(r.headers['x-repo-commit'], repo.commit);
      assert.equal(r.headers['content-length'], String(readme.length));
      assert.equal(r.headers['accept-ranges'], 'bytes');
      assert.match(r.headers['content-type'], /^text\/plain/);
      assert.equal(r.headers['content-disposition'], `inline; filename*=UTF-8''README.md; filename="README.md";`);
      assert.match(r.headers.ratelimit, /^"resolvers";r=\d+;t=\d+$/);
      assert.match(r.headers['ratelimit-policy'], /^"fixed window";"resolvers";q=\d+;w=300$/);
      assert.equal(r.headers['access-control-allow-origin'], 'https://huggingface.co');
      assert.match(r.headers['access-control-expose-headers'], /X-Linked-Size/);
      if (method === 'GET') assert.ok(r.body.equals(readme));
    }
  });

  test('regular file at a branch: relative 307 to resolve-cache, or direct 200 when switched', T, async () => {
    const r = await raw(`${hub.url}/org/model/resolve/main/README.md`);
    assert.equal(r.status, 307);
    const loc = r.headers.location;
    assert.ok(loc.startsWith(`/api/resolve-cache/models/org/model/${repo.commit}/README.md?`), loc);
    assert.ok(loc.includes(`etag=%22${repo.file('README.md').sha1}%22`), loc);
    const r2 = await raw(`${hub.url}${loc}`);
    assert.equal(r2.status, 200);
    assert.ok(r2.body.equals(readme));
    assert.equal(r2.headers['x-repo-commit'], repo.commit);
    hub.options.redirectRegularAtBranch = false;
    try {
      const r3 = await raw(`${hub.url}/org/model/resolve/main/README.md`);
      assert.equal(r3.status, 200);
      assert.ok(r3.body.equals(readme));
    } finally {
      hub.options.redirectRegularAtBranch = true;
    }
  });

  test('LFS file: 302 to the signed CDN URL with linked metadata and Xet hints; CDN serves bytes', T, async () => {
    const f = repo.file('model.bin');
    const r = await raw(`${hub.url}/org/model/resolve/main/model.bin`);
    assert.equal(r.status, 302);
    const loc = r.headers.location;
    assert.ok(loc.startsWith(`${hub.cdnUrl}/`), loc);
    assert.match(loc, /[?&]exp=\d+/);
    assert.match(loc, /[?&]sig=[0-9a-f]+/);
    assert.equal(r.headers['x-repo-commit'], repo.commit);
    assert.equal(r.headers['x-linked-etag'], `"${sha256(big)}"`);
    assert.equal(r.headers['x-linked-size'], String(big.length));
    assert.equal(r.headers['x-xet-hash'], f.xetHash);
    assert.deepEqual(linkRels(r.headers.link).sort(), ['xet-auth', 'xet-reconstruction-info']);
    assert.equal(r.headers.etag, undefined);
    assert.equal(r.body.toString(), `Found. Redirecting to ${loc}`);
    const h = await raw(`${hub.url}/org/model/resolve/main/model.bin`, { method: 'HEAD' });
    assert.equal(h.status, 302);
    const c = await raw(loc);
    assert.equal(c.status, 200);
    assert.equal(sha256(c.body), sha256(big));
    assert.equal(c.headers['content-length'], String(big.length));
    assert.ok(c.headers.etag && c.headers.etag !== `"${f.sha256}"`);
    for (const k of ['x-repo-commit', 'x-linked-etag', 'x-linked-size', 'x-xet-hash', 'ratelimit']) assert.equal(c.headers[k], undefined, k);
    // Xet fileinfo answer for the JS client's Accept.
    const xi = await raw(`${hub.url}/org/model/resolve/main/model.bin`, { headers: { Accept: 'application/vnd.xet-fileinfo+json, */*' } });
    assert.equal(xi.status, 200);
    assert.match(xi.headers['content-type'], /application\/vnd\.xet-fileinfo\+json/);
    hub.setXet(false);
    try {
      const nx = await raw(`${hub.url}/org/model/resolve/main/model.bin`);
      assert.equal(nx.status, 302);
      assert.equal(nx.headers['x-xet-hash'], undefined);
      assert.equal(nx.headers.link, undefined);
    } finally {
      hub.setXet(true);
    }
  });

  test('Range and If-None-Match on Hub and CDN', T, async () => {
    const size = big.length;
    const base = `${hub.url}/org/model/resolve/${repo.commit}/README.md`;
    let r = await raw(base, { headers: { Range: 'bytes=0-0' } });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], `bytes 0-0/${readme.length}`);
    assert.equal(r.body.toString(), '#');
    r = await raw(base, { headers: { Range: 'bytes=0-100000' } });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], `bytes 0-${readme.length - 1}/${readme.length}`);
    r = await raw(base, { headers: { Range: 'bytes=100-' } });
    assert.equal(r.status, 416);
    assert.equal(r.headers['content-range'], `bytes */${readme.length}`);
    r = await raw(base, { headers: { 'If-None-Match': repo.file('README.md').etag } });
    assert.equal(r.status, 304);
    assert.equal(r.body.length, 0);

    const loc = (await raw(`${hub.url}/org/model/resolve/main/model.bin`)).headers.location;
    r = await raw(loc, { headers: { Range: `bytes=${size - 10}-` } });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], `bytes ${size - 10}-${size - 1}/${size}`);
    assert.ok(r.body.equals(big.subarray(size - 10)));
    r = await raw(loc, { headers: { Range: 'bytes=-5' } });
    assert.ok(r.body.equals(big.subarray(size - 5)));
    r = await raw(loc, { headers: { Range: `bytes=${size}-` } });
    assert.equal(r.status, 416);
    assert.equal(r.headers['content-range'], `bytes */${size}`);
    r = await raw(loc, { headers: { 'If-None-Match': repo.file('model.bin').cdnEtag } });
    assert.equal(r.status, 304);
    r = await raw(`${hub.url}/org/model/resolve/main/model.bin`, { headers: { 'If-None-Match': `"${sha256(big)}"` } });
    assert.equal(r.status, 304);
  });

  test('CDN refuses expired and tampered URLs', T, async () => {
    const loc = (await raw(`${hub.url}/org/model/resolve/main/model.bin`)).headers.location;
    const bad = loc.replace(/sig=([0-9a-f])/, (m, c) => `sig=${c === '0' ? '1' : '0'}`);
    assert.equal((await raw(bad)).status, 403);
    const oldTtl = hub.options.cdnUrlTtlSeconds;
    hub.options.cdnUrlTtlSeconds = -1;
    try {
      const exp = (await raw(`${hub.url}/org/model/resolve/main/model.bin`)).headers.location;
      const r = await raw(exp);
      assert.equal(r.status, 403);
      assert.match(r.body.toString(), /expired/);
    } finally {
      hub.options.cdnUrlTtlSeconds = oldTtl;
    }
    hub.rotateCdnSecret();
    assert.equal((await raw(loc)).status, 403);
  });

  test('errors: EntryNotFound, RevisionNotFound, private, gated, missing repo', T, async () => {
    let r = await raw(`${hub.url}/org/model/resolve/main/nope.txt`);
    assert.equal(r.status, 404);
    assert.equal(r.headers['x-error-code'], 'EntryNotFound');
    assert.equal(r.headers['x-error-message'], 'Entry not found');
    assert.equal(r.headers['x-repo-commit'], repo.commit);
    r = await raw(`${hub.url}/org/model/resolve/nobranch/README.md`);
    assert.equal(r.status, 404);
    assert.equal(r.headers['x-error-code'], 'RevisionNotFound');
    assert.equal(r.headers['x-error-message'], 'Invalid rev id: nobranch');
    r = await raw(`${hub.url}/org/private/resolve/main/f.txt`);
    assert.equal(r.status, 401);
    assert.equal(r.headers['x-error-code'], undefined);
    assert.equal(r.headers['x-error-message'], 'Invalid username or password.');
    assert.match(r.headers['www-authenticate'], /^Bearer realm=/);
    r = await raw(`${hub.url}/org/private/resolve/main/f.txt`, { headers: { Authorization: 'Bearer tok-other' } });
    assert.equal(r.status, 404);
    assert.equal(r.headers['x-error-code'], 'RepoNotFound');
    r = await raw(`${hub.url}/org/private/resolve/${priv.commit}/f.txt`, { headers: { Authorization: 'Bearer tok-reader' } });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'secret');
    r = await raw(`${hub.url}/org/private/resolve/${priv.commit}/f.txt`, { headers: { Authorization: 'Bearer nope' } });
    assert.equal(r.status, 401);
    r = await raw(`${hub.url}/org/gated/resolve/${gated.commit}/f.txt`);
    assert.equal(r.status, 401);
    assert.equal(r.headers['x-error-code'], 'GatedRepo');
    r = await raw(`${hub.url}/org/gated/resolve/${gated.commit}/f.txt`, { headers: { Authorization: 'Bearer tok-other' } });
    assert.equal(r.status, 403);
    assert.equal(r.headers['x-error-code'], 'GatedRepo');
    r = await raw(`${hub.url}/org/gated/resolve/${gated.commit}/f.txt`, { headers: { Authorization: 'Bearer tok-reader' } });
    assert.equal(r.status, 200);
    r = await raw(`${hub.url}/org/missing/resolve/main/f.txt`);
    assert.equal(r.status, 401);
    r = await raw(`${hub.url}/org/missing/resolve/main/f.txt`, { headers: { Authorization: 'Bearer tok-other' } });
    assert.equal(r.status, 404);
    assert.equal(r.headers['x-error-code'], 'RepoNotFound');
  });

  test('revision encodings, repo types, odd file names', T, async () => {
    const get = async (p) => {
      const r = await raw(`${hub.url}${p}`);
      if (r.status === 307) return raw(`${hub.url}${r.headers.location}`);
      return r;
    };
    for (const rev of ['refs%2Fpr%2F1', 'refs/pr/1', 'v1', repo.commit, repo.commit.slice(0, 7)]) {
      const r = await get(`/org/model/resolve/${rev}/README.md`);
      assert.equal(r.status, 200, rev);
      assert.equal(r.headers['x-repo-commit'], repo.commit, rev);
    }
    assert.equal((await get(`/org/model/resolve/main/sub%20dir/a%20%231.txt`)).body.toString(), 'weird name\n');
    assert.equal((await get(`/org/model/resolve/main/${encodeURIComponent('ünï.txt')}`)).body.toString(), 'unicode');
    assert.equal((await get(`/org/model/resolve/main/nested/deep/x.txt`)).body.toString(), 'x');
    assert.equal((await get(`/datasets/org/data/resolve/main/train.csv`)).body.toString(), 'a,b\n1,2\n');
    assert.equal((await get(`/spaces/org/space/resolve/main/app.py`)).body.toString(), 'print(1)\n');
    const r = await raw(`${hub.url}/datasets/org/data/resolve/main/train.csv`);
    assert.ok(r.headers.location.startsWith(`/api/resolve-cache/datasets/org/data/${ds.commit}/train.csv?`));
    assert.equal((await raw(`${hub.url}/org/data/resolve/main/train.csv`)).status, 401, 'dataset under the model prefix is a missing repo');
    assert.ok(sp.commit);
  });

  test('branch moves to a new commit with its own files', T, async () => {
    const r1 = hub.addRepo({ id: 'org/moving', files: [{ path: 'a.txt', content: 'one' }] });
    const c1 = r1.commit;
    const c2 = r1.addCommit({ branch: 'main', files: [{ path: 'a.txt', content: 'two' }, { path: 'b.txt', content: 'new' }] });
    assert.notEqual(c1, c2);
    assert.equal(r1.commit, c2);
    let r = await raw(`${hub.url}/org/moving/resolve/${c1}/a.txt`);
    assert.equal(r.body.toString(), 'one');
    r = await raw(`${hub.url}/org/moving/resolve/${c1}/b.txt`);
    assert.equal(r.headers['x-error-code'], 'EntryNotFound');
    r = await raw(`${hub.url}/org/moving/resolve/main/a.txt`);
    assert.ok(r.headers.location.includes(c2));
    r = await raw(`${hub.url}/org/moving/resolve/${c2}/a.txt`);
    assert.equal(r.body.toString(), 'two');
  });

  test('faults: status once, abortAfter, wrongBytes, ignoreRange, throttle', T, async () => {
    const url = `${hub.url}/org/model/resolve/${repo.commit}/README.md`;
    const f1 = hub.fault({ listener: 'hub', path: 'README.md' }, { status: 503, times: 1 });
    assert.equal((await raw(url)).status, 503);
    assert.equal((await raw(url)).status, 200);
    assert.equal(f1.hits, 1);

    const loc = (await raw(`${hub.url}/org/model/resolve/main/model.bin`)).headers.location;
    const f2 = hub.fault({ listener: 'cdn', path: 'model.bin' }, { abortAfter: 100000, times: 1 });
    let r = await raw(loc);
    assert.notEqual(r.code, 0);
    assert.equal(r.body.length, 100000);
    assert.ok(r.body.equals(big.subarray(0, 100000)));
    assert.equal(f2.hits, 1);
    r = await raw(loc);
    assert.equal(r.code, 0);
    assert.equal(sha256(r.body), sha256(big));

    hub.fault({ listener: 'cdn', path: 'model.bin' }, { wrongBytes: true, times: 1 });
    r = await raw(loc);
    assert.equal(r.code, 0);
    assert.equal(r.body.length, big.length);
    assert.notEqual(sha256(r.body), sha256(big));

    hub.fault({ listener: 'cdn', path: 'model.bin' }, { ignoreRange: true, times: 1 });
    r = await raw(loc, { headers: { Range: 'bytes=0-0' } });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, big.length);

    hub.fault({ listener: 'cdn', path: 'model.bin' }, { throttle: 4 * 1024 * 1024, times: 1 });
    const t0 = performance.now();
    r = await raw(loc);
    const ms = performance.now() - t0;
    assert.equal(sha256(r.body), sha256(big));
    assert.ok(ms > 500 && ms < 5000, `3 MiB at 4 MiB/s took ${ms} ms`);
  });

  test('faults: pauseAt gate holds the body until released; request log counts transfers', T, async () => {
    hub.clearLog();
    const loc = (await raw(`${hub.url}/org/model/resolve/main/model.bin`, { headers: { Authorization: 'Bearer tok-reader' } })).headers.location;
    const half = Math.floor(big.length / 2);
    const f = hub.fault({ listener: 'cdn', path: 'model.bin' }, { pauseAt: half });
    let received = 0;
    const p = request(loc, { onData: (c, n) => (received = n) });
    await withTimeout(f.gate.reached, 5000, 'gate');
    // The fake wrote exactly `half` bytes and holds the rest.
    const rec = hub.findRequests({ listener: 'cdn', path: 'model.bin' })[0];
    assert.equal(rec.bodyBytesSent, half);
    f.gate.release();
    const r = await p;
    assert.equal(received, big.length);
    assert.equal(sha256(r.body), sha256(big));
    assert.equal(hub.cdnBodyTransfers('model.bin'), 1);
    assert.equal(hub.countRequests({ listener: 'hub', method: 'GET', path: 'model.bin', hasAuth: true }), 1);
    assert.equal(hub.findRequests({ listener: 'hub', path: 'model.bin' })[0].authorization, 'Bearer tok-reader');
    assert.equal(hub.countRequests({ listener: 'cdn', hasAuth: true }), 0);
  });

  test('faults: holdHeaders gate, redirect location override', T, async () => {
    const f = hub.fault({ listener: 'hub', path: 'config.json' }, { holdHeaders: true, times: 1 });
    const p = raw(`${hub.url}/org/model/resolve/${repo.commit}/config.json`);
    await withTimeout(f.headersGate.reached, 5000, 'headers gate');
    f.headersGate.release();
    assert.equal((await p).status, 200);
    hub.fault({ listener: 'hub', path: 'model.bin' }, { location: 'http://localhost:1/elsewhere', times: 1 });
    const r = await raw(`${hub.url}/org/model/resolve/main/model.bin`);
    assert.equal(r.headers.location, 'http://localhost:1/elsewhere');
  });

  test('API: repo info, tree pagination, paths-info (form and JSON), refs, xet token, whoami', T, async () => {
    let r = await request(`${hub.url}/api/models/org/model`);
    let j = JSON.parse(r.body);
    assert.equal(j.id, 'org/model');
    assert.equal(j.sha, repo.commit);
    assert.ok(j._id && j.lastModified && j.private === false && j.gated === false);
    assert.ok(j.siblings.some((s) => s.rfilename === 'model.bin'));
    r = await request(`${hub.url}/api/models/org/model/revision/refs%2Fpr%2F1?blobs=true`);
    j = JSON.parse(r.body);
    assert.equal(j.siblings.find((s) => s.rfilename === 'model.bin').lfs.sha256, sha256(big));
    r = await request(`${hub.url}/api/models/org/model/revision/main?expand=sha&expand=private`);
    assert.deepEqual(Object.keys(JSON.parse(r.body)).sort(), ['_id', 'id', 'private', 'sha']);

    // tree: page size 2, absolute Link next
    const all = [];
    let next = `${hub.url}/api/models/org/model/tree/main?recursive=true&expand=false`;
    let pages = 0;
    while (next) {
      r = await request(next);
      assert.equal(r.status, 200);
      all.push(...JSON.parse(r.body));
      pages++;
      const link = r.headers.link;
      next = link ? /^<([^>]+)>;\s*rel="next"$/.exec(link)[1] : null;
      if (next) assert.ok(next.startsWith(hub.url));
    }
    assert.ok(pages >= 3);
    const paths = all.map((e) => e.path).sort();
    assert.deepEqual(paths, ['README.md', 'config.json', 'model.bin', 'nested', 'nested/deep', 'nested/deep/x.txt', 'sub dir', 'sub dir/a #1.txt', 'ünï.txt'].sort());
    const lfsEntry = all.find((e) => e.path === 'model.bin');
    assert.equal(lfsEntry.lfs.oid, sha256(big));
    assert.equal(lfsEntry.size, big.length);
    assert.match(lfsEntry.xetHash, /^[0-9a-f]{64}$/);
    r = await request(`${hub.url}/api/models/org/model/tree/refs/pr/1/sub%20dir`);
    j = JSON.parse(r.body);
    assert.deepEqual(j.map((e) => e.path), ['sub dir/a #1.txt']);
    r = await request(`${hub.url}/api/models/org/model/tree/main/nested%2Fdeep`);
    assert.deepEqual(JSON.parse(r.body).map((e) => e.path), ['nested/deep/x.txt']);

    r = await request(`${hub.url}/api/models/org/model/paths-info/main`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'paths=README.md&paths=nested%2Fdeep&paths=missing&expand=false',
    });
    assert.deepEqual(JSON.parse(r.body).map((e) => e.path), ['README.md', 'nested/deep']);
    r = await request(`${hub.url}/api/models/org/model/paths-info/${encodeURIComponent('refs/pr/1')}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ paths: ['model.bin'], expand: true }),
    });
    j = JSON.parse(r.body);
    assert.equal(j[0].lastCommit.id, repo.commit);
    assert.equal(j[0].lfs.oid, sha256(big));

    r = await request(`${hub.url}/api/models/org/model/refs?include_prs=1`);
    j = JSON.parse(r.body);
    assert.deepEqual(j.branches, [{ name: 'main', ref: 'refs/heads/main', targetCommit: repo.commit }]);
    assert.equal(j.tags[0].name, 'v1');
    assert.equal(j.pullRequests[0].ref, 'refs/pr/1');

    r = await request(`${hub.url}/api/models/org/model/xet-read-token/main`);
    j = JSON.parse(r.body);
    assert.ok(j.accessToken && j.casUrl && j.exp);
    assert.ok(r.headers['x-xet-access-token']);

    r = await request(`${hub.url}/api/whoami-v2`, { headers: { Authorization: 'Bearer tok-reader' } });
    assert.equal(JSON.parse(r.body).name, 'reader');
    r = await request(`${hub.url}/api/whoami-v2`);
    assert.equal(r.status, 401);
    r = await request(`${hub.url}/api/models/org/private`);
    assert.equal(r.status, 401);
    assert.equal(JSON.parse(r.body).error, 'Invalid username or password.');
  });

  test('rate limit window: 429 with Retry-After and RateLimit until it expires', T, async () => {
    const f = hub.rateLimit({ urlIncludes: '/api/models/org/model/refs' }, { seconds: 2 });
    const r = await request(`${hub.url}/api/models/org/model/refs`);
    assert.equal(r.status, 429);
    const ra = Number(r.headers['retry-after']);
    assert.ok(ra >= 1 && ra <= 2, `Retry-After ${r.headers['retry-after']}`);
    assert.match(r.headers.ratelimit, /^"api";r=0;t=[12]$/);
    assert.match(r.headers['ratelimit-policy'], /"api";q=\d+;w=300/);
    assert.equal((await request(`${hub.url}/api/models/org/model/revision/main`)).status, 200, 'other paths unaffected');
    await new Promise((res) => setTimeout(res, Math.max(0, f.until - Date.now()) + 50));
    assert.equal((await request(`${hub.url}/api/models/org/model/refs`)).status, 200, 'after the window');
    assert.equal(f.hits, 1);
  });

  test('request hooks run before the answer (move a branch at the first tree request)', T, async () => {
    const r0 = hub.addRepo({ id: 'org/hooked', files: [{ path: 'a.txt', content: 'one' }] });
    const c1 = r0.commit;
    let c2;
    const h = hub.onRequest({ pathIncludes: '/api/models/org/hooked/tree/' }, () => {
      c2 = r0.addCommit({ branch: 'main', files: [{ path: 'a.txt', content: 'two' }] });
    });
    const t = await request(`${hub.url}/api/models/org/hooked/tree/main`);
    assert.equal(JSON.parse(t.body)[0].oid, gitBlobSha1(Buffer.from('two')), 'the hook ran before the answer');
    assert.equal((await h.fired).path, '/api/models/org/hooked/tree/main');
    await request(`${hub.url}/api/models/org/hooked/tree/main`);
    assert.equal(h.hits, 1, 'times defaults to 1');
    assert.notEqual(c1, c2);
    assert.equal(r0.commit, c2);
  });

  test('gzip JSON when the option is on and the client asks', T, async () => {
    const hz = await startFakeHub({ xet: true, gzipJson: true });
    try {
      hz.addRepo({ id: 'org/z', files: [{ path: 'a.txt', content: 'a' }] });
      const g = await request(`${hz.url}/api/models/org/z/tree/main`, { headers: { 'Accept-Encoding': 'gzip' } });
      assert.equal(g.headers['content-encoding'], 'gzip');
      assert.match(g.headers.vary, /Accept-Encoding/);
      const { gunzipSync } = await import('node:zlib');
      assert.equal(JSON.parse(gunzipSync(g.body))[0].path, 'a.txt');
      const p = await request(`${hz.url}/api/models/org/z/tree/main`);
      assert.equal(p.headers['content-encoding'], undefined);
      assert.equal(JSON.parse(p.body)[0].path, 'a.txt');
    } finally {
      await hz.close();
    }
  });

  test('writes: create repo, preupload and commit need a write token', T, async () => {
    hub.addToken('hf_w', { name: 'w', write: true });
    const post = (path, body, token, ctype = 'application/json') =>
      request(`${hub.url}${path}`, { method: 'POST', headers: { 'Content-Type': ctype, ...(token ? { Authorization: `Bearer ${token}` } : {}) }, body });
    let r = await post('/api/repos/create', JSON.stringify({ name: 'made', organization: 'org', type: 'dataset' }), 'hf_w');
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).url, `${hub.url}/datasets/org/made`);
    assert.ok(hub.repo('org/made', 'dataset'));
    assert.equal((await post('/api/repos/create', JSON.stringify({ name: 'made2', organization: 'org' }))).status, 401);
    assert.equal((await post('/api/repos/create', JSON.stringify({ name: 'made2', organization: 'org' }), 'tok-reader')).status, 403);
    r = await post('/api/datasets/org/made/preupload/main', JSON.stringify({ files: [{ path: 'x.txt', size: 1, sample: 'eA==' }] }), 'hf_w');
    assert.deepEqual(JSON.parse(r.body).files, [{ path: 'x.txt', uploadMode: 'regular', shouldIgnore: false }]);
    const nd = [{ key: 'header', value: { summary: 'add x' } }, { key: 'file', value: { path: 'x.txt', content: 'eA==', encoding: 'base64' } }].map((l) => JSON.stringify(l)).join('\n');
    assert.equal((await post('/api/datasets/org/made/commit/main', nd, 'tok-reader', 'application/x-ndjson')).status, 403);
    r = await post('/api/datasets/org/made/commit/main', nd, 'hf_w', 'application/x-ndjson');
    assert.equal(r.status, 200);
    const made = hub.repo('org/made', 'dataset');
    assert.equal(JSON.parse(r.body).commitOid, made.commit);
    assert.equal(made.file('x.txt').bytes().toString(), 'x');
    assert.equal(made.commits.get(made.commit).title, 'add x');
  });

  test('down switch: refuse and come back on the same port', T, async () => {
    await hub.setDown(true, { listener: 'hub' });
    const r = await raw(`${hub.url}/api/whoami-v2`, { timeoutMs: 5000 });
    assert.equal(r.code, 7, 'curl: connection refused');
    await hub.setDown(false, { listener: 'hub' });
    assert.equal((await raw(`${hub.url}/api/whoami-v2`)).status, 401);
  });
});

test('fakehub CLI prints one JSON line and serves generated fixtures', { timeout: 60000 }, async () => {
  const script = fileURLToPath(new URL('./fakehub.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, '--port', '0', '--cdn-port', '0', '--fixture', 'big:33554432', '--fixture', 'small:1024'], {
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const rl = createInterface({ input: child.stdout });
    const [line] = await withTimeout(once(rl, 'line'), 30000, 'fakehub CLI startup');
    const info = JSON.parse(line);
    assert.match(info.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(info.cdnUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    const bigF = info.files.find((f) => f.path === 'big');
    const small = info.files.find((f) => f.path === 'small');
    assert.equal(bigF.lfs, true);
    assert.equal(small.lfs, false);
    const r = await curl(bigF.url, { args: ['-L'], checkXet: false });
    assert.equal(r.code, 0);
    assert.equal(r.body.length, 33554432);
    assert.equal(sha256(r.body), bigF.sha256);
    const s = await curl(small.url, { args: ['-L'], checkXet: false });
    assert.equal(sha256(s.body), small.sha256);
    assert.equal(`"${gitBlobSha1(s.body)}"`, small.etag);
    assert.equal(sha256Hex(s.body), small.sha256);
  } finally {
    child.kill('SIGTERM');
    await withTimeout(once(child, 'exit'), 10000, 'fakehub CLI exit');
  }
});
