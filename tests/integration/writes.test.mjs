// Write requests through the gateway: refused with 403 WritesDisabled by default (nothing reaches
// upstream), or passed through untouched with the caller's own token under `--writes passthrough`
// (never the gateway's upstream token, never cached). The xet-read-token route is answered by the
// gateway itself (404 XetNotSupported) so clients fall back to plain HTTP.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRepo, downloadFile, uploadFile } from '@huggingface/hub';
import { startFakeHub } from '../fakehub/fakehub.mjs';
import { checkedFetch, curl, describeRequests, jsonBody, request, sha256, startGateway, upstreamMark, upstreamSince } from './helpers.mjs';

const T = { timeout: 60000 };
const TYPES = ['model', 'dataset', 'space'];

function ndjson(lines) {
  return lines.map((l) => JSON.stringify(l)).join('\n');
}

// The write requests clients send (huggingface_hub, the npm client, git-lfs).
function writeRequests(repo) {
  const api = `/api/${repo.type}s/${repo.id}`;
  const json = (o) => ({ 'Content-Type': 'application/json', body: JSON.stringify(o) });
  return [
    ['POST', '/api/repos/create', json({ name: 'new-repo', organization: 'org', type: 'model' })],
    ['DELETE', '/api/repos/delete', json({ name: 'writable', organization: 'org', type: 'model' })],
    ['PUT', `${api}/settings`, json({ private: true })],
    ['POST', `${api}/preupload/main`, json({ files: [{ path: 'x.txt', size: 2, sample: 'eA==' }] })],
    [
      'POST',
      `${api}/commit/main`,
      { 'Content-Type': 'application/x-ndjson', body: ndjson([{ key: 'header', value: { summary: 'x' } }, { key: 'file', value: { path: 'x.txt', content: 'eA==', encoding: 'base64' } }]) },
    ],
    ['POST', `${api}/branch/dev`, json({})],
    ['DELETE', `${api}/branch/dev`, json({})],
    ['POST', `${api}/tag/main`, json({ tag: 'v9' })],
    ['POST', `/${repo.type === 'model' ? '' : `${repo.type}s/`}${repo.id}.git/info/lfs/objects/batch`, {
      'Content-Type': 'application/vnd.git-lfs+json',
      body: JSON.stringify({ operation: 'upload', transfers: ['basic'], objects: [{ oid: 'a'.repeat(64), size: 1 }] }),
    }],
  ];
}

async function send(base, method, path, { body, headers = {}, ...rest }) {
  const h = { ...headers, 'Content-Type': rest['Content-Type'], 'Content-Length': Buffer.byteLength(body) };
  return request(`${base}${path}`, { method, headers: h, body });
}

function errorText(r) {
  let msg = r.headers['x-error-message'] ?? '';
  try {
    const j = jsonBody(r);
    msg += ` ${j.error ?? ''} ${j.message ?? ''}`;
  } catch {
    msg += ` ${r.body.toString()}`;
  }
  return msg;
}

describe('writes denied (default)', () => {
  let hub;
  let gw;
  const repos = {};

  before(async () => {
    hub = await startFakeHub({ xet: true });
    hub.addToken('hf_writer', { name: 'writer', write: true });
    for (const type of TYPES) repos[type] = hub.addRepo({ type, id: `org/writable-${type}`, files: [{ path: 'a.txt', content: 'a\n' }] });
    gw = await startGateway({ upstream: hub.url });
  }, { timeout: 60000 });

  after(async () => {
    await gw?.stop();
    await hub?.close();
  }, { timeout: 30000 });

  test('every write request: 403 WritesDisabled with a clear message; nothing reaches upstream', T, async () => {
    const mark = upstreamMark(hub);
    for (const type of TYPES) {
      for (const [method, path, spec] of writeRequests(repos[type])) {
        for (const headers of [{ Authorization: 'Bearer hf_writer' }, {}]) {
          const what = `${method} ${path}${headers.Authorization ? ' (token)' : ''}`;
          const r = await send(gw.url, method, path, { ...spec, headers });
          assert.equal(r.status, 403, `${what}: ${r.status} ${r.body.toString().slice(0, 200)}`);
          assert.equal(r.headers['x-error-code'], 'WritesDisabled', `${what}: X-Error-Code`);
          assert.match(errorText(r), /writes? (are |is )?disabled/i, `${what}: message`);
        }
      }
    }
    assert.deepEqual(upstreamSince(hub, mark).map((q) => `${q.method} ${q.url}`), [], 'denied writes reached upstream');
    // Reads that use POST are not writes.
    const pi = await send(gw.url, 'POST', `/api/models/${repos.model.id}/paths-info/main`, { 'Content-Type': 'application/json', body: JSON.stringify({ paths: ['a.txt'] }) });
    assert.equal(pi.status, 200, `paths-info: ${pi.status}`);
    assert.equal(jsonBody(pi)[0].path, 'a.txt');
  });

  test('npm createRepo and uploadFile fail with 403 and the message', T, async () => {
    const mark = upstreamMark(hub);
    await assert.rejects(
      createRepo({ repo: { type: 'model', name: 'org/brand-new' }, accessToken: 'hf_writer', hubUrl: gw.url, fetch: checkedFetch }),
      (e) => e.statusCode === 403 && /disabled/i.test(e.message),
    );
    await assert.rejects(
      uploadFile({ repo: { type: 'dataset', name: repos.dataset.id }, accessToken: 'hf_writer', file: { path: 'up.txt', content: new Blob(['hello\n']) }, hubUrl: gw.url, fetch: checkedFetch }),
      (e) => e.statusCode === 403 && /disabled/i.test(e.message),
    );
    assert.deepEqual(upstreamSince(hub, mark).map((q) => `${q.method} ${q.url}`), []);
    assert.equal(hub.repo('org/brand-new'), undefined);
    assert.equal(repos.dataset.file('up.txt'), undefined);
  });

  test('xet-read-token is answered by the gateway: 404 XetNotSupported, upstream never asked', T, async () => {
    const mark = upstreamMark(hub);
    for (const type of TYPES) {
      const repo = repos[type];
      for (const rev of ['main', repo.commit]) {
        for (const headers of [{}, { Authorization: 'Bearer hf_writer' }]) {
          const r = await curl(`${gw.url}/api/${type}s/${repo.id}/xet-read-token/${rev}`, { headers });
          assert.equal(r.status, 404, `${type}@${rev}: ${r.status}`);
          assert.equal(r.headers['x-error-code'], 'XetNotSupported', `${type}@${rev}: X-Error-Code`);
        }
      }
    }
    assert.equal(upstreamSince(hub, mark).filter((q) => q.path.includes('xet-read-token')).length, 0, 'xet-read-token reached upstream');
  });
});

describe('writes passthrough', () => {
  let hub;
  let gw;
  let repo;

  before(async () => {
    hub = await startFakeHub({ xet: true });
    hub.addToken('hf_writer', { name: 'writer', write: true });
    hub.addToken('hf_reader', { name: 'reader' });
    hub.addToken('hf_gateway', { name: 'gateway' });
    repo = hub.addRepo({ id: 'org/pass', files: [{ path: 'a.txt', content: 'a\n' }] });
    // The gateway's own upstream token must never be used for a write.
    gw = await startGateway({ upstream: hub.url, extraArgs: ['--writes', 'passthrough'], env: { HUBGATE_UPSTREAM_TOKEN: 'hf_gateway' } });
  }, { timeout: 60000 });

  after(async () => {
    await gw?.stop();
    await hub?.close();
  }, { timeout: 30000 });

  test('npm createRepo and uploadFile go through with the caller token; the result is readable', T, async () => {
    const mark = upstreamMark(hub);
    const created = await createRepo({ repo: { type: 'model', name: 'org/made-via-gateway' }, accessToken: 'hf_writer', hubUrl: gw.url, fetch: checkedFetch });
    assert.ok(hub.repo('org/made-via-gateway'), 'repo not created upstream');
    assert.equal(created.repoUrl, `${hub.url}/org/made-via-gateway`);
    const content = Buffer.from('uploaded through the gateway\n');
    const res = await uploadFile({ repo: { type: 'model', name: repo.id }, accessToken: 'hf_writer', file: { path: 'up/new.txt', content: new Blob([content]) }, hubUrl: gw.url, fetch: checkedFetch });
    assert.equal(res.commit.oid, repo.commit, 'commit oid relayed');
    assert.ok(repo.file('up/new.txt')?.bytes().equals(content), 'file not committed upstream');
    const writes = upstreamSince(hub, mark).filter((q) => q.method !== 'GET' && q.method !== 'HEAD');
    assert.deepEqual(writes.map((q) => `${q.method} ${q.path}`), ['POST /api/repos/create', `POST /api/models/${repo.id}/preupload/main`, `POST /api/models/${repo.id}/commit/main`], describeRequests(writes));
    for (const q of writes) assert.equal(q.authorization, 'Bearer hf_writer', `${q.method} ${q.path}: Authorization upstream`);
    // Read back through the gateway at the new commit.
    const blob = await downloadFile({ repo: { type: 'model', name: repo.id }, path: 'up/new.txt', revision: res.commit.oid, hubUrl: gw.url, fetch: checkedFetch });
    assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), sha256(content));
  });

  test('errors are relayed, the gateway token is not used, nothing is cached', T, async () => {
    const path = `/api/models/${repo.id}/commit/main`;
    const body = ndjson([{ key: 'header', value: { summary: 'nope' } }, { key: 'file', value: { path: 'z.txt', content: 'eg==', encoding: 'base64' } }]);
    const spec = { 'Content-Type': 'application/x-ndjson', body };
    const head = repo.commit;
    // No token: upstream sees no Authorization (not the gateway's) and its 401 is relayed.
    let mark = upstreamMark(hub);
    const anon = await send(gw.url, 'POST', path, spec);
    assert.equal(anon.status, 401, `anonymous commit: ${anon.status}`);
    let seen = upstreamSince(hub, mark).filter((q) => q.path === path);
    assert.equal(seen.length, 1, describeRequests(upstreamSince(hub, mark)));
    assert.equal(seen[0].authorization, null, `upstream got Authorization ${seen[0].authorization} for an anonymous write`);
    // A read-only token: upstream's 403 relayed as is (no WritesDisabled), twice = two upstream calls.
    mark = upstreamMark(hub);
    for (let i = 0; i < 2; i++) {
      const r = await send(gw.url, 'POST', path, { ...spec, headers: { Authorization: 'Bearer hf_reader' } });
      assert.equal(r.status, 403, `read token: ${r.status}`);
      assert.notEqual(r.headers['x-error-code'], 'WritesDisabled');
      assert.match(jsonBody(r).error, /rights/);
    }
    seen = upstreamSince(hub, mark).filter((q) => q.path === path);
    assert.equal(seen.length, 2, 'write answers must never be cached');
    for (const q of seen) assert.equal(q.authorization, 'Bearer hf_reader');
    assert.equal(repo.commit, head, 'a refused commit changed the repo');
    // A successful commit twice: two commits upstream (not a cached 200).
    mark = upstreamMark(hub);
    const oids = [];
    for (let i = 0; i < 2; i++) {
      const r = await send(gw.url, 'POST', path, { ...spec, headers: { Authorization: 'Bearer hf_writer' } });
      assert.equal(r.status, 200, `commit ${i}: ${r.status} ${r.body.toString().slice(0, 200)}`);
      oids.push(jsonBody(r).commitOid);
    }
    assert.notEqual(oids[0], oids[1], 'second commit answered from a cache');
    assert.equal(repo.commit, oids[1]);
    assert.equal(upstreamSince(hub, mark).filter((q) => q.path === path).length, 2);
  });
});
