// Hub metadata API through the gateway: repo info (plain and at a revision, with the query
// parameters clients send), tree (recursive, expand, pagination with the Link next URL rewritten
// onto the gateway), paths-info (JSON and form bodies), refs, other read-only GETs passed through,
// error codes, cached EntryNotFound at a commit. Answers are compared with the fake Hub's own
// answers minus Xet fields; the npm client's listFiles / pathsInfo / snapshotDownload run against
// the gateway and must match the fake. Every answer is checked for Xet fields and headers by the
// helpers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { datasetInfo, listFiles, modelInfo, pathsInfo, snapshotDownload, spaceInfo } from '@huggingface/hub';
import { generateFiles, randomContent, startFakeHub } from '../fakehub/fakehub.mjs';
import {
  byPath,
  checkedFetch,
  collect,
  curl,
  describeRequests,
  expectedTree,
  fakeJson,
  hashTree,
  jsonBody,
  makeTempDir,
  nextLink,
  recordingFetch,
  request,
  sleep,
  startGateway,
  stripXet,
  upstreamMark,
  upstreamSince,
} from './helpers.mjs';

const T = { timeout: 60000 };
// The npm client logs every download with console.debug; keep the test output readable.
console.debug = () => {};
const PAGE = 50;

describe('metadata API', () => {
  let hub;
  let gw;
  let big;
  let ds;
  let sp;
  const tmp = [];

  before(async () => {
    hub = await startFakeHub({ xet: true, treePageSize: PAGE });
    hub.addToken('hf_client', { name: 'client' });
    big = hub.addRepo({ id: 'org/big', files: generateFiles('big', 130, { lfsEvery: 10 }), tags: { 'v1.0': null } });
    ds = hub.addRepo({ type: 'dataset', id: 'org/data', files: generateFiles('data', 70, { lfsEvery: 7, ext: 'csv' }) });
    sp = hub.addRepo({
      type: 'space',
      id: 'org/space',
      files: [
        { path: 'app.py', content: 'print("hello")\n' },
        { path: 'README.md', content: '---\nsdk: static\n---\n' },
        { path: 'static/index.html', content: '<html></html>\n' },
        { path: 'static/logo.png', content: randomContent('space-logo', 30000), lfs: true },
      ],
    });
    gw = await startGateway({ upstream: hub.url });
  }, { timeout: 60000 });

  after(async () => {
    await gw?.stop();
    await hub?.close();
    for (const d of tmp) await rm(d, { recursive: true, force: true });
  }, { timeout: 30000 });

  const cases = () => [
    ['model', big],
    ['dataset', ds],
  ];

  for (const which of ['model', 'dataset']) {
    test(`${which}: npm listFiles (recursive, paginated) matches the fake; Link next URLs point at the gateway`, T, async () => {
      const repo = which === 'model' ? big : ds;
      const designation = { type: repo.type, name: repo.id };
      const log = [];
      const viaGw = await collect(listFiles({ repo: designation, recursive: true, hubUrl: gw.url, fetch: recordingFetch(log) }));
      const viaFake = (await collect(listFiles({ repo: designation, recursive: true, hubUrl: hub.url }))).map(stripXet);
      assert.deepEqual(viaGw, viaFake, 'listFiles through the gateway differs from the fake');
      const files = viaGw.filter((e) => e.type === 'file');
      assert.equal(files.length, repo.files().length, 'number of files');
      for (const e of files) {
        const f = repo.file(e.path);
        assert.ok(f, `unknown path ${e.path}`);
        assert.equal(e.size, f.size, `${e.path}: size`);
        assert.equal(e.oid, f.sha1, `${e.path}: oid`);
        if (f.lfs) assert.equal(e.lfs?.oid, f.sha256, `${e.path}: lfs oid`);
        else assert.equal(e.lfs, undefined, `${e.path}: lfs on a regular file`);
      }
      // Pagination: every page but the last names its successor on the gateway.
      const pages = log.filter((l) => l.url.includes('/tree/'));
      const expectedPages = Math.ceil(viaFake.length / PAGE);
      assert.equal(pages.length, expectedPages, `pages fetched: ${pages.map((p) => p.url).join(' ')}`);
      if (which === 'model') assert.ok(pages.length >= 3, 'the big repo must need at least 3 pages');
      for (const [i, p] of pages.entries()) {
        assert.equal(p.status, 200, `page ${i}`);
        const next = nextLink(p.link);
        if (i === pages.length - 1) {
          assert.equal(next, null, `last page has a next link: ${p.link}`);
        } else {
          assert.ok(next, `page ${i} has no Link rel="next"`);
          const u = new URL(next);
          assert.equal(u.origin, gw.url, `next URL ${next} does not point at the gateway`);
          assert.ok(u.pathname.startsWith(`/api/${repo.type}s/${repo.id}/tree/`), `next URL path ${u.pathname}`);
          assert.equal(u.searchParams.get('recursive'), 'true', `next URL ${next} lost recursive`);
          assert.equal(pages[i + 1].url, next, 'the client followed the next URL');
        }
      }
    });

    test(`${which}: snapshotDownload through the gateway equals the fake's files`, T, async () => {
      const repo = which === 'model' ? big : ds;
      const cacheDir = await makeTempDir('hubgate-npm-cache-');
      tmp.push(cacheDir);
      const folder = await snapshotDownload({ repo: { type: repo.type, name: repo.id }, cacheDir, hubUrl: gw.url, fetch: checkedFetch });
      assert.equal(path.basename(folder), repo.commit, 'snapshot folder is not named after the commit');
      assert.deepEqual(await hashTree(folder), expectedTree(repo), 'snapshot content differs from the fake');
    });
  }

  test('listFiles non-recursive, in a folder, and with expand: same as the fake', T, async () => {
    for (const [, repo] of cases()) {
      const designation = { type: repo.type, name: repo.id };
      for (const params of [{}, { path: 'data' }, { path: 'data/train', recursive: true }, { recursive: true, expand: true }, { path: 'models', expand: true }]) {
        const what = `${repo.key} ${JSON.stringify(params)}`;
        const viaGw = await collect(listFiles({ repo: designation, ...params, hubUrl: gw.url, fetch: checkedFetch }));
        const viaFake = (await collect(listFiles({ repo: designation, ...params, hubUrl: hub.url }))).map(stripXet);
        assert.deepEqual(viaGw, viaFake, what);
        assert.ok(viaGw.length > 0, `${what}: empty listing`);
        if (params.expand) assert.ok(viaGw.every((e) => e.lastCommit?.id === repo.commit), `${what}: lastCommit missing`);
      }
    }
  });

  test('tree pages by hand: Link keeps path and query, follows the request Host, pages concatenate to the fake listing', T, async () => {
    const q = '?recursive=true&expand=false';
    const fakeAll = (await collect(listFiles({ repo: { type: 'model', name: big.id }, recursive: true, hubUrl: hub.url }))).map(stripXet);
    // The fake's own first page at the commit, for comparing the query of the next URL.
    const fake1 = await request(`${hub.url}/api/models/${big.id}/tree/${big.commit}${q}`, { checkXet: false });
    const fakeNext = new URL(nextLink(fake1.headers.link));
    for (const rev of ['main', big.commit]) {
      let url = `${gw.url}/api/models/${big.id}/tree/${rev}${q}`;
      const entries = [];
      let pages = 0;
      while (url) {
        const r = await request(url);
        assert.equal(r.status, 200, `${url}: ${r.status} ${r.body.toString().slice(0, 200)}`);
        assert.match(r.headers['content-type'] ?? '', /application\/json/);
        entries.push(...jsonBody(r));
        const next = nextLink(r.headers.link);
        if (next) {
          const u = new URL(next);
          assert.equal(u.origin, gw.url, `next ${next}`);
          assert.ok([`/api/models/${big.id}/tree/${rev}`, `/api/models/${big.id}/tree/${big.commit}`].includes(u.pathname), `next path ${u.pathname}`);
          if (pages === 0) {
            assert.deepEqual(Object.fromEntries(u.searchParams), Object.fromEntries(fakeNext.searchParams), 'query of the first next URL differs from the fake');
          }
        }
        url = next;
        pages++;
        assert.ok(pages < 20, 'pagination does not end');
      }
      assert.ok(pages >= 3, `${rev}: ${pages} pages`);
      assert.deepEqual(entries, fakeAll, `${rev}: concatenated pages differ from the fake`);
    }
    // The next URL is built from the Host the client used.
    const r = await request(`${gw.url}/api/models/${big.id}/tree/main${q}`, { headers: { Host: 'hubgate.test:4321' } });
    assert.equal(r.status, 200);
    const next = nextLink(r.headers.link);
    assert.ok(next?.startsWith(`http://hubgate.test:4321/api/models/${big.id}/tree/`), `next URL with Host hubgate.test:4321: ${next}`);
  });

  test('repo info for models, datasets and spaces: plain, at a revision, with expand and blobs; same as the fake', T, async () => {
    const npmInfo = { model: modelInfo, dataset: datasetInfo, space: spaceInfo };
    for (const repo of [big, ds, sp]) {
      const base = `/api/${repo.type}s/${repo.id}`;
      const queries = [
        '',
        '?blobs=true',
        '?expand=sha&expand=siblings&expand=lastModified',
        '?expand[]=sha&expand[]=private',
        '?securityStatus=true&files_metadata=true',
      ];
      for (const p of ['', '/revision/main', `/revision/${repo.commit}`]) {
        for (const qs of queries) {
          const u = `${base}${p}${qs}`;
          const r = await request(`${gw.url}${u}`);
          assert.equal(r.status, 200, `${u}: ${r.status} ${r.body.toString().slice(0, 200)}`);
          const got = jsonBody(r);
          assert.deepEqual(got, await fakeJson(hub, u), `${u}: differs from the fake`);
          if ('sha' in got || qs === '') assert.equal(got.sha, repo.commit, `${u}: sha`);
        }
      }
      const info = await npmInfo[repo.type]({ name: repo.id, additionalFields: ['sha'], revision: 'main', hubUrl: gw.url, fetch: checkedFetch });
      assert.equal(info.sha, repo.commit, `${repo.key}: npm info sha`);
      assert.equal(info.name, repo.id);
    }
  });

  test('paths-info with a JSON and a form body, expand on and off, at branch, tag and commit: same as the fake', T, async () => {
    const lfsPath = big.files().find((f) => f.lfs).path;
    const paths = ['file-0000.txt', 'data/train', 'data/train/file-0001.txt', lfsPath, 'does/not/exist.txt', 'models/v2/extra'];
    for (const p of ['file-0000.txt', 'data/train/file-0001.txt']) assert.ok(big.file(p), `fixture lacks ${p}`);
    for (const rev of ['main', 'v1.0', big.commit]) {
      for (const expand of [false, true]) {
        const u = `/api/models/${big.id}/paths-info/${encodeURIComponent(rev)}`;
        const bodies = [
          ['application/json', JSON.stringify({ paths, expand })],
          ['application/x-www-form-urlencoded', new URLSearchParams([...paths.map((p) => ['paths', p]), ['expand', String(expand)]]).toString()],
        ];
        for (const [ctype, body] of bodies) {
          const what = `${u} ${ctype} expand=${expand}`;
          const opts = { method: 'POST', headers: { 'Content-Type': ctype, 'Content-Length': Buffer.byteLength(body) }, body };
          const r = await request(`${gw.url}${u}`, opts);
          assert.equal(r.status, 200, `${what}: ${r.status} ${r.body.toString().slice(0, 200)}`);
          const got = jsonBody(r);
          assert.deepEqual(byPath(got), byPath(await fakeJson(hub, u, opts)), what);
          assert.equal(got.length, 5, `${what}: entries`);
        }
      }
    }
    const viaGw = await pathsInfo({ repo: { type: 'dataset', name: ds.id }, paths: ['data', 'file-0000.csv'], expand: true, hubUrl: gw.url, fetch: checkedFetch });
    const viaFake = await pathsInfo({ repo: { type: 'dataset', name: ds.id }, paths: ['data', 'file-0000.csv'], expand: true, hubUrl: hub.url });
    assert.deepEqual(byPath(viaGw), byPath(viaFake.map((e) => ({ ...e, xetHash: undefined }))), 'npm pathsInfo on the dataset');
  });

  test('refs, commits and whoami pass through', T, async () => {
    for (const u of [`/api/models/${big.id}/refs`, `/api/models/${big.id}/refs?include_prs=1`, `/api/datasets/${ds.id}/refs`, `/api/spaces/${sp.id}/refs`, `/api/models/${big.id}/commits/main`]) {
      const r = await request(`${gw.url}${u}`);
      assert.equal(r.status, 200, `${u}: ${r.status}`);
      assert.deepEqual(jsonBody(r), await fakeJson(hub, u), u);
    }
    const mark = upstreamMark(hub);
    const who = await request(`${gw.url}/api/whoami-v2`, { headers: { Authorization: 'Bearer hf_client' } });
    assert.equal(who.status, 200);
    assert.equal(jsonBody(who).name, 'client');
    const seen = upstreamSince(hub, mark).filter((q) => q.path === '/api/whoami-v2');
    assert.equal(seen.length, 1, `whoami upstream: ${describeRequests(upstreamSince(hub, mark))}`);
    assert.equal(seen[0].authorization, 'Bearer hf_client', 'the caller token did not reach upstream');
    const anon = await request(`${gw.url}/api/whoami-v2`);
    assert.equal(anon.status, 401, 'whoami without a token');
  });

  test('RevisionNotFound and RepoNotFound keep their codes', T, async () => {
    for (const u of [`/api/models/${big.id}/revision/no-such-branch`, `/api/models/${big.id}/tree/no-such-branch`, `/api/datasets/${ds.id}/revision/no-such-branch`]) {
      const r = await request(`${gw.url}${u}`);
      assert.equal(r.status, 404, u);
      assert.equal(r.headers['x-error-code'], 'RevisionNotFound', u);
    }
    const pi = await request(`${gw.url}/api/models/${big.id}/paths-info/no-such-branch`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ paths: ['file-0000.txt'] }),
    });
    assert.equal(pi.status, 404, 'paths-info at a missing revision');
    assert.equal(pi.headers['x-error-code'], 'RevisionNotFound');
    for (const u of ['/api/models/org/missing', '/api/models/org/missing/revision/main', '/api/models/org/missing/tree/main', '/api/spaces/org/missing']) {
      const r = await request(`${gw.url}${u}`, { headers: { Authorization: 'Bearer hf_client' } });
      assert.equal(r.status, 404, u);
      assert.equal(r.headers['x-error-code'], 'RepoNotFound', u);
      const anon = await request(`${gw.url}${u}`);
      const fake = await request(`${hub.url}${u}`, { checkXet: false });
      assert.equal(anon.status, fake.status, `${u} without a token: ${anon.status}, the fake says ${fake.status}`);
    }
  });

  test('EntryNotFound at a commit is answered with X-Repo-Commit and cached', T, async () => {
    const treeUrl = `/api/models/${big.id}/tree/${big.commit}/no/such/dir`;
    const fileUrl = `/${big.id}/resolve/${big.commit}/no-such-file.txt`;
    for (const [u, method] of [[treeUrl, 'GET'], [fileUrl, 'GET'], [fileUrl, 'HEAD']]) {
      const r1 = await curl(`${gw.url}${u}`, { method });
      assert.equal(r1.status, 404, `${method} ${u}`);
      assert.equal(r1.headers['x-error-code'], 'EntryNotFound', `${method} ${u}`);
      assert.equal(r1.headers['x-repo-commit'], big.commit, `${method} ${u}: X-Repo-Commit`);
    }
    const mark = upstreamMark(hub);
    for (let i = 0; i < 3; i++) {
      for (const [u, method] of [[treeUrl, 'GET'], [fileUrl, 'GET'], [fileUrl, 'HEAD']]) {
        const r = await curl(`${gw.url}${u}`, { method });
        assert.equal(r.status, 404, `again ${method} ${u}`);
        assert.equal(r.headers['x-error-code'], 'EntryNotFound');
        assert.equal(r.headers['x-repo-commit'], big.commit);
      }
    }
    assert.deepEqual(upstreamSince(hub, mark).map((q) => `${q.method} ${q.url}`), [], 'cached EntryNotFound was asked upstream again');
  });

  test('fresh API answers relay the upstream RateLimit headers', T, async () => {
    // A never-asked request is fresh; the fake numbers its RateLimit remaining count per request.
    const r = await request(`${gw.url}/api/spaces/${sp.id}/tree/${sp.commit}/static`);
    assert.equal(r.status, 200);
    assert.match(r.headers.ratelimit ?? '', /^"api";r=\d+;t=\d+$/, `RateLimit: ${r.headers.ratelimit}`);
    assert.match(r.headers['ratelimit-policy'] ?? '', /^"fixed window";"api";q=\d+;w=\d+$/);
  });
});

describe('negative TTL', () => {
  let hub;
  let gw;
  let repo;

  before(async () => {
    hub = await startFakeHub({ xet: true });
    repo = hub.addRepo({ id: 'org/neg', files: [{ path: 'a.txt', content: 'a\n' }] });
    gw = await startGateway({ upstream: hub.url, extraArgs: ['--negative-ttl', '2s'] });
  }, { timeout: 60000 });

  after(async () => {
    await gw?.stop();
    await hub?.close();
  }, { timeout: 30000 });

  test('a cached EntryNotFound expires after --negative-ttl (resolve and tree at a commit)', T, async () => {
    const cases = [
      ['resolve', `/${repo.id}/resolve/${repo.commit}/later.txt`, `/resolve/${repo.commit}/later.txt`],
      ['tree', `/api/models/${repo.id}/tree/${repo.commit}/later`, `/tree/${repo.commit}/later`],
    ];
    for (const [what, u, needle] of cases) {
      const count = () => hub.countRequests({ listener: 'hub', pathIncludes: needle });
      const r1 = await request(`${gw.url}${u}`);
      const t1 = Date.now();
      assert.equal(r1.status, 404, what);
      assert.equal(r1.headers['x-error-code'], 'EntryNotFound', what);
      assert.equal(r1.headers['x-repo-commit'], repo.commit, `${what}: X-Repo-Commit`);
      const n1 = count();
      assert.ok(n1 >= 1, `${what}: not asked upstream`);
      const r2 = await request(`${gw.url}${u}`);
      assert.equal(r2.status, 404, what);
      assert.equal(r2.headers['x-repo-commit'], repo.commit, `${what}: X-Repo-Commit (cached)`);
      assert.equal(count(), n1, `${what}: asked upstream again within the negative TTL (${Date.now() - t1} ms after the first answer):\n  ${describeRequests(hub.findRequests({ listener: 'hub', pathIncludes: needle }))}`);
      await sleep(2300);
      const r3 = await request(`${gw.url}${u}`);
      assert.equal(r3.status, 404, what);
      assert.ok(count() > n1, `${what}: not asked upstream again after the negative TTL`);
    }
  });
});
