// Revisions through the gateway: tag, full and short commit, refs/pr/1 (raw and %2F-encoded) and
// file names with spaces, '#' and unicode on the API routes and /resolve, for models, datasets and
// spaces; a branch resolves to a commit for --revision-ttl, everything at a commit is immutable
// (warm snapshots cost 0 upstream requests within the TTL, at most 1 after it, 0 offline); a
// branch moved while a snapshot or a paginated listing is in progress never mixes commits.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { downloadFile, listFiles, pathsInfo, snapshotDownload } from '@huggingface/hub';
import { generateFiles, randomContent, startFakeHub } from '../fakehub/fakehub.mjs';
import {
  byPath,
  checkedFetch,
  collect,
  curl,
  describeRequests,
  encPath,
  expectedTree,
  fakeJson,
  hashTree,
  jsonBody,
  makeTempDir,
  nextLink,
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
const TYPES = ['model', 'dataset', 'space'];

// The request sequence of a snapshot download by a client that pins the commit after one
// revision call (huggingface_hub / npm): revision -> tree pages at the sha -> HEAD + GET per file.
async function manualSnapshot(gwUrl, repo, rev = 'main') {
  const info = await request(`${gwUrl}/api/${repo.type}s/${repo.id}/revision/${encodeURIComponent(rev)}`);
  assert.equal(info.status, 200, `revision ${rev}: ${info.status} ${info.body.toString().slice(0, 200)}`);
  const sha = jsonBody(info).sha;
  let url = `${gwUrl}/api/${repo.type}s/${repo.id}/tree/${sha}?recursive=true&expand=false`;
  const files = [];
  while (url) {
    const r = await request(url);
    assert.equal(r.status, 200, `${url}: ${r.status}`);
    files.push(...jsonBody(r).filter((e) => e.type === 'file').map((e) => e.path));
    url = nextLink(r.headers.link);
  }
  const out = {};
  for (const p of files) {
    const u = `${gwUrl}/${repoPrefix(repo.type)}${repo.id}/resolve/${sha}/${encPath(p)}`;
    const h = await request(u, { method: 'HEAD' });
    assert.ok(h.status === 200, `HEAD ${p}: ${h.status}`);
    const g = await request(u);
    assert.equal(g.status, 200, `GET ${p}: ${g.status}`);
    out[p] = sha256(g.body);
  }
  return { sha, files: out, info };
}

describe('revision encodings on API routes and resolve', () => {
  let hub;
  let gw;
  const repos = {};

  before(async () => {
    hub = await startFakeHub({ xet: true });
    for (const type of TYPES) {
      const r = hub.addRepo({
        type,
        id: `org/revs-${type}`,
        files: [
          { path: 'README.md', content: `one ${type}\n` },
          { path: 'sub dir/a b.txt', content: `space in names ${type}\n` },
          { path: 'x#y.txt', content: `hash in name ${type}\n` },
          { path: 'ünï/ファイル.txt', content: `unicode name ${type}\n` },
          { path: 'w.bin', content: randomContent(`revs-${type}-w1`, 100000), lfs: true },
        ],
        tags: { 'v1.0': null },
      });
      r.c1 = r.commit;
      // PR 1: every file changed; main moves on past the tag with yet other content.
      r.c2 = r.addCommit({
        base: r.c1,
        files: [
          { path: 'README.md', content: `pr one ${type}\n` },
          { path: 'sub dir/a b.txt', content: `pr space ${type}\n` },
          { path: 'x#y.txt', content: `pr hash ${type}\n` },
          { path: 'ünï/ファイル.txt', content: `pr unicode ${type}\n` },
          { path: 'w.bin', content: randomContent(`revs-${type}-w2`, 100001), lfs: true },
        ],
      });
      r.setPr(1, r.c2);
      r.c3 = r.addCommit({ base: r.c1, branch: 'main', files: [{ path: 'README.md', content: `three ${type}\n` }, { path: 'x#y.txt', content: `main hash ${type}\n` }] });
      repos[type] = r;
    }
    gw = await startGateway({ upstream: hub.url });
  }, { timeout: 60000 });

  after(async () => {
    await gw?.stop();
    await hub?.close();
  }, { timeout: 30000 });

  for (const type of TYPES) {
    test(`${type}: tag, full and short commit, refs/pr/1 on info, tree, paths-info and resolve`, T, async () => {
      const repo = repos[type];
      const revs = [
        ['v1.0', 'v1.0', repo.c1],
        ['full commit', repo.c1, repo.c1],
        ['short commit', repo.c2.slice(0, 7), repo.c2],
        ['refs/pr/1 raw', 'refs/pr/1', repo.c2],
        ['refs/pr/1 encoded', encodeURIComponent('refs/pr/1'), repo.c2],
        ['main', 'main', repo.c3],
      ];
      const api = `/api/${type}s/${repo.id}`;
      for (const [what, rev, commit] of revs) {
        const w = `${type} ${what}`;
        // repo info
        const info = await request(`${gw.url}${api}/revision/${rev}`);
        assert.equal(info.status, 200, `${w}: info ${info.status} ${info.body.toString().slice(0, 200)}`);
        assert.equal(jsonBody(info).sha, commit, `${w}: info sha`);
        assert.deepEqual(jsonBody(info), await fakeJson(hub, `${api}/revision/${rev}`), `${w}: info differs from the fake`);
        // tree: root (recursive) and folders whose names need encoding
        for (const sub of ['', '/sub%20dir', `/${encPath('ünï')}`]) {
          const u = `${api}/tree/${rev}${sub}?recursive=true`;
          const t = await request(`${gw.url}${u}`);
          assert.equal(t.status, 200, `${w}: tree${sub}: ${t.status} ${t.body.toString().slice(0, 200)}`);
          assert.deepEqual(jsonBody(t), await fakeJson(hub, u), `${w}: tree${sub} differs from the fake`);
        }
        // paths-info with the odd names
        const body = JSON.stringify({ paths: ['sub dir/a b.txt', 'x#y.txt', 'ünï/ファイル.txt', 'ünï', 'w.bin'], expand: false });
        const opts = { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }, body };
        const pi = await request(`${gw.url}${api}/paths-info/${rev}`, opts);
        assert.equal(pi.status, 200, `${w}: paths-info ${pi.status}`);
        const piJson = jsonBody(pi);
        assert.deepEqual(byPath(piJson), byPath(await fakeJson(hub, `${api}/paths-info/${rev}`, opts)), `${w}: paths-info differs from the fake`);
        assert.equal(piJson.length, 5, `${w}: paths-info entries`);
        // resolve: bytes and X-Repo-Commit of the right commit
        for (const p of ['x#y.txt', 'sub dir/a b.txt', 'ünï/ファイル.txt', 'README.md', 'w.bin']) {
          const f = repo.file(p, commit);
          const r = await curl(`${gw.url}/${repoPrefix(type)}${repo.id}/resolve/${rev}/${encPath(p)}`);
          assert.equal(r.status, 200, `${w}: resolve ${p}: ${r.status}`);
          assert.equal(sha256(r.body), f.sha256, `${w}: resolve ${p}: bytes`);
          assert.equal(r.headers['x-repo-commit'], commit, `${w}: resolve ${p}: X-Repo-Commit`);
        }
      }
    });
  }

  test('npm client at refs/pr/1, a tag and a short commit', T, async () => {
    for (const type of TYPES) {
      const repo = repos[type];
      const designation = { type, name: repo.id };
      for (const [rev, commit] of [['refs/pr/1', repo.c2], ['v1.0', repo.c1], [repo.c1.slice(0, 10), repo.c1]]) {
        const w = `${type}@${rev}`;
        const viaGw = await collect(listFiles({ repo: designation, recursive: true, revision: rev, hubUrl: gw.url, fetch: checkedFetch }));
        const viaFake = (await collect(listFiles({ repo: designation, recursive: true, revision: rev, hubUrl: hub.url }))).map(stripXet);
        assert.deepEqual(viaGw, viaFake, `${w}: listFiles`);
        const pi = await pathsInfo({ repo: designation, paths: ['x#y.txt', 'ünï/ファイル.txt'], revision: rev, expand: true, hubUrl: gw.url, fetch: checkedFetch });
        assert.deepEqual(byPath(pi).map((e) => [e.path, e.oid, e.lastCommit?.id]), [['x#y.txt', repo.file('x#y.txt', commit).sha1, commit], ['ünï/ファイル.txt', repo.file('ünï/ファイル.txt', commit).sha1, commit]], `${w}: pathsInfo`);
        for (const p of ['sub dir/a b.txt', 'w.bin']) {
          const blob = await downloadFile({ repo: designation, path: p, revision: rev, hubUrl: gw.url, fetch: checkedFetch });
          assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), repo.file(p, commit).sha256, `${w}: ${p}`);
        }
      }
    }
  });
});

describe('revision TTL: warm snapshots, branch updates, offline', () => {
  let hub;
  let repo;
  let cacheDir;
  let gw;
  const npmDirs = [];

  before(async () => {
    hub = await startFakeHub({ xet: true, treePageSize: 10 });
    repo = hub.addRepo({ id: 'org/snap', files: generateFiles('snap', 24, { lfsEvery: 5 }) });
    cacheDir = await makeTempDir('hubgate-cache-shared-');
  }, { timeout: 60000 });

  after(async () => {
    await gw?.stop({ keepCache: true });
    await hub?.close();
  }, { timeout: 30000 });

  const npmDir = async () => {
    const d = await makeTempDir('hubgate-npm-cache-');
    npmDirs.push(d);
    return d;
  };
  const snap = async (gwUrl, fetchImpl = checkedFetch) =>
    snapshotDownload({ repo: { type: 'model', name: repo.id }, cacheDir: await npmDir(), hubUrl: gwUrl, fetch: fetchImpl });

  // Each test runs its own gateway on the shared cache dir (a restart keeps the cache).
  async function withGateway(extraArgs, fn) {
    gw = await startGateway({ upstream: hub.url, cacheDir, extraArgs });
    try {
      await fn(gw);
    } finally {
      await gw.stop({ keepCache: true });
      gw = null;
    }
  }

  test('within the TTL a warm snapshot makes no upstream request', T, async () => {
    await withGateway(['--revision-ttl', '60s'], async (gw) => {
      // Cold: both flows once (their repo-info queries differ).
      const cold = await snap(gw.url);
      assert.equal(path.basename(cold), repo.commit);
      assert.deepEqual(await hashTree(cold), expectedTree(repo));
      assert.deepEqual((await manualSnapshot(gw.url, repo)).files, expectedTree(repo));
      const mark = upstreamMark(hub);
      const warm = await snap(gw.url);
      assert.deepEqual(await hashTree(warm), expectedTree(repo), 'warm snapshot content');
      const m = await manualSnapshot(gw.url, repo);
      assert.equal(m.sha, repo.commit);
      assert.deepEqual(m.files, expectedTree(repo), 'manual snapshot content');
      const seen = upstreamSince(hub, mark);
      assert.equal(seen.length, 0, `warm snapshots within the TTL asked upstream:\n  ${describeRequests(seen)}`);
      // The branch moves upstream; within the TTL every answer at main still names the old commit.
      const old = repo.commit;
      const moved = repo.addCommit({ branch: 'main', files: [{ path: 'file-0000.txt', content: 'moved within the TTL\n' }] });
      const mark2 = upstreamMark(hub);
      const info = await request(`${gw.url}/api/models/${repo.id}/revision/main`);
      assert.equal(jsonBody(info).sha, old, 'repo info at main within the TTL');
      const r = await curl(`${gw.url}/${repo.id}/resolve/main/file-0000.txt`);
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-repo-commit'], old, 'resolve at main within the TTL: X-Repo-Commit');
      assert.equal(sha256(r.body), repo.file('file-0000.txt', old).sha256, 'resolve at main within the TTL: bytes');
      assert.deepEqual(upstreamSince(hub, mark2).map((q) => `${q.method} ${q.url}`), [], 'asked upstream within the TTL');
      assert.notEqual(moved, old);
    });
  });

  test('after the TTL a warm snapshot makes at most one upstream request, the revision check', T, async () => {
    await withGateway(['--revision-ttl', '300ms'], async (gw) => {
      // Warm-up after the restart (not counted).
      await snap(gw.url);
      await manualSnapshot(gw.url, repo);
      for (let round = 0; round < 3; round++) {
        await sleep(400);
        const mark = upstreamMark(hub);
        const warm = await snap(gw.url);
        assert.deepEqual(await hashTree(warm), expectedTree(repo), `round ${round}: content`);
        const seen = upstreamSince(hub, mark);
        assert.ok(seen.length <= 1, `round ${round}: ${seen.length} upstream requests:\n  ${describeRequests(seen)}`);
        for (const q of seen) {
          const isRevisionCheck =
            q.listener === 'hub' &&
            ((q.path.startsWith(`/api/models/${repo.id}`) && !/\/(tree|paths-info)\//.test(q.path)) ||
              (q.method === 'HEAD' && q.path.startsWith(`/${repo.id}/resolve/main/`)));
          assert.ok(isRevisionCheck, `round ${round}: not a revision check: ${q.method} ${q.url}`);
        }
        await sleep(400);
        const mark2 = upstreamMark(hub);
        const m = await manualSnapshot(gw.url, repo);
        assert.deepEqual(m.files, expectedTree(repo), `round ${round}: manual content`);
        assert.ok(upstreamSince(hub, mark2).length <= 1, `round ${round}: manual snapshot:\n  ${describeRequests(upstreamSince(hub, mark2))}`);
      }
    });
  });

  test('a moved branch is seen once the TTL expired; the old commit stays served', T, async () => {
    await withGateway(['--revision-ttl', '300ms'], async (gw) => {
      const c1 = repo.commit;
      await snap(gw.url);
      const c2 = repo.addCommit({
        branch: 'main',
        files: [...generateFiles('snap-v2', 24, { lfsEvery: 5 }).slice(0, 6), { path: 'new-in-v2.txt', content: 'new\n' }],
        remove: [repo.files(c1)[7].path],
      });
      await sleep(400);
      const folder = await snap(gw.url);
      assert.equal(path.basename(folder), c2, 'snapshot after the branch moved is not at the new commit');
      assert.deepEqual(await hashTree(folder), expectedTree(repo, c2));
      const info = await request(`${gw.url}/api/models/${repo.id}/revision/main`);
      assert.equal(jsonBody(info).sha, c2);
      assert.equal(info.headers['x-hubgate-stale'], undefined, 'fresh answer marked stale');
      // The old commit is immutable and still served from the cache, without asking upstream.
      const mark = upstreamMark(hub);
      const old = await snapshotDownload({ repo: { type: 'model', name: repo.id }, revision: c1, cacheDir: await npmDir(), hubUrl: gw.url, fetch: checkedFetch });
      assert.deepEqual(await hashTree(old), expectedTree(repo, c1));
      assert.deepEqual(upstreamSince(hub, mark).map((q) => `${q.method} ${q.url}`), [], 'commit-pinned snapshot asked upstream');
    });
  });

  test('offline: the last known commit is served and upstream is never contacted', T, async () => {
    const mark = upstreamMark(hub);
    await withGateway(['--offline'], async (gw) => {
      const head = repo.commit;
      const folder = await snap(gw.url);
      assert.equal(path.basename(folder), head);
      assert.deepEqual(await hashTree(folder), expectedTree(repo, head));
      const m = await manualSnapshot(gw.url, repo);
      assert.deepEqual(m.files, expectedTree(repo, head));
      assert.equal(m.info.headers['x-hubgate-stale'], 'offline', 'branch answer in offline mode not marked stale: offline');
      const never = hub.addRepo({ id: 'org/never-seen', files: [{ path: 'a.txt', content: 'a' }] });
      for (const u of [`/api/models/${never.id}/revision/main`, `/api/models/${never.id}/tree/main`, `/${never.id}/resolve/main/a.txt`]) {
        const r = await request(`${gw.url}${u}`);
        assert.equal(r.status, 503, `${u}: ${r.status}`);
        assert.equal(r.headers['x-error-code'], 'GatewayOffline', u);
      }
    });
    assert.deepEqual(upstreamSince(hub, mark).map((q) => `${q.method} ${q.url}`), [], 'offline gateway contacted upstream');
  });
});

describe('branch moved during a snapshot', () => {
  let hub;
  let gw;
  let repo;
  const npmDirs = [];

  before(async () => {
    hub = await startFakeHub({ xet: true, treePageSize: 20 });
    gw = await startGateway({ upstream: hub.url, extraArgs: ['--revision-ttl', '200ms'] });
  }, { timeout: 60000 });

  after(async () => {
    await gw?.stop();
    await hub?.close();
  }, { timeout: 30000 });

  // Every file changes content between generations, so any mix of commits shows.
  const generation = (g) => generateFiles(`moving-${g}`, 50, { lfsEvery: 6 });

  test('npm snapshotDownload: branch moves after the revision call; every file from one commit', T, async () => {
    repo = hub.addRepo({ id: 'org/moving', files: generation(1) });
    const c1 = repo.commit;
    let c2;
    let c3;
    // Move main when the first tree request reaches the fake, and again at the first file request.
    const h1 = hub.onRequest({ listener: 'hub', pathIncludes: `/api/models/${repo.id}/tree/` }, () => {
      c2 = repo.addCommit({ base: c1, branch: 'main', files: generation(2) });
    });
    const h2 = hub.onRequest({ listener: 'hub', where: (q) => q.path.includes(`/${repo.id}/resolve/`) || q.path.includes('/paths-info/') }, () => {
      c3 = repo.addCommit({ base: c1, branch: 'main', files: generation(3) });
    });
    const cacheDir = await makeTempDir('hubgate-npm-cache-');
    npmDirs.push(cacheDir);
    const folder = await snapshotDownload({ repo: { type: 'model', name: repo.id }, cacheDir, hubUrl: gw.url, fetch: checkedFetch });
    h1.remove();
    h2.remove();
    assert.equal(h1.hits, 1, 'the tree hook never fired: the gateway did not ask upstream for the tree');
    assert.ok(c2 && c2 !== c1);
    assert.equal(path.basename(folder), c1, 'snapshot is not at the commit the branch named when the download started');
    assert.deepEqual(await hashTree(folder), expectedTree(repo, c1), 'files from more than one commit');
    void c3;
  });

  test('tree at a branch, paginated: the branch moves between pages; all pages come from one commit', T, async () => {
    const r2 = hub.addRepo({ id: 'org/moving-pages', files: generation(4) });
    const c1 = r2.commit;
    const expected = (await request(`${hub.url}/api/models/${r2.id}/tree/${c1}?recursive=true&limit=1000`, { checkXet: false })).body;
    const expectedEntries = stripXet(JSON.parse(expected.toString()));
    let moved = 0;
    // Each upstream tree request moves main to a new generation before the fake answers it.
    const hook = hub.onRequest({ listener: 'hub', pathIncludes: `/api/models/${r2.id}/tree/` }, () => {
      moved++;
      r2.addCommit({ base: c1, branch: 'main', files: generation(10 + moved) });
    }, { times: 100 });
    try {
      await sleep(300);
      let url = `${gw.url}/api/models/${r2.id}/tree/main?recursive=true`;
      const entries = [];
      let pages = 0;
      while (url) {
        const r = await request(url);
        assert.equal(r.status, 200, `${url}: ${r.status}`);
        entries.push(...jsonBody(r));
        url = nextLink(r.headers.link);
        pages++;
        assert.ok(pages < 20);
        await sleep(300); // let the revision TTL expire between pages
      }
      assert.ok(pages >= 3, `${pages} pages`);
      assert.ok(moved >= 1, 'the branch never moved: the gateway did not ask upstream for the tree');
      assert.deepEqual(entries, expectedEntries, 'pages mix commits (or differ from the tree at the commit main named first)');
    } finally {
      hook.remove();
    }
  });
});
