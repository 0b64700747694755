// Browser clients: CORS preflight answered on every route (204, methods, the requested headers
// echoed), CORS headers on every answer (Allow-Origin, Expose-Headers naming the Hub headers
// clients read), gzip for JSON over ~1 KiB when asked (identical JSON once inflated, Vary:
// Accept-Encoding), including when upstream itself answers gzip.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { generateFiles, randomContent, startFakeHub } from '../fakehub/fakehub.mjs';
import { byPath, jsonBody, request, startGateway, stripXet } from './helpers.mjs';

const T = { timeout: 60000 };
const ORIGIN = 'http://localhost:5173';
const MUST_EXPOSE = ['x-repo-commit', 'etag', 'link', 'content-range', 'x-linked-size', 'x-linked-etag'];

const list = (v) => String(v ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);

function assertCors(r, what, origin) {
  const allow = r.headers['access-control-allow-origin'];
  assert.ok(allow === '*' || (origin && allow === origin), `${what}: Access-Control-Allow-Origin ${allow} (origin ${origin})`);
  const exposed = list(r.headers['access-control-expose-headers']);
  for (const h of MUST_EXPOSE) assert.ok(exposed.includes(h), `${what}: ${h} not in Access-Control-Expose-Headers (${r.headers['access-control-expose-headers']})`);
}

describe('browser clients', () => {
  let hub;
  let gw;
  let repo;
  let ds;

  before(async () => {
    // The fake answers gzip JSON when asked: the gateway must still strip Xet fields from it.
    hub = await startFakeHub({ xet: true, gzipJson: true });
    repo = hub.addRepo({
      id: 'org/web',
      files: [
        ...generateFiles('web', 60, { lfsEvery: 10 }),
        { path: 'config.json', content: '{"a":1}\n' },
        { path: 'model.safetensors', content: randomContent('web-model', 200000), lfs: true },
      ],
    });
    ds = hub.addRepo({ type: 'dataset', id: 'org/web-data', files: generateFiles('web-data', 30, { ext: 'csv' }) });
    gw = await startGateway({ upstream: hub.url });
  }, { timeout: 60000 });

  after(async () => {
    await gw?.stop();
    await hub?.close();
  }, { timeout: 30000 });

  test('OPTIONS preflight on any route: 204 with methods and the requested headers', T, async () => {
    const routes = [
      ['GET', `/api/models/${repo.id}`],
      ['GET', `/api/models/${repo.id}/revision/main`],
      ['GET', `/api/models/${repo.id}/tree/main?recursive=true`],
      ['POST', `/api/models/${repo.id}/paths-info/main`],
      ['GET', `/api/datasets/${ds.id}/tree/main`],
      ['GET', `/${repo.id}/resolve/main/config.json`],
      ['HEAD', `/${repo.id}/resolve/main/model.safetensors`],
      ['GET', `/datasets/${ds.id}/resolve/main/file-0000.csv`],
      ['GET', '/api/whoami-v2'],
      ['GET', '/api/models/org/not-there/revision/main'],
    ];
    const before0 = hub.requests.length;
    for (const [method, path] of routes) {
      for (const origin of [ORIGIN, 'https://example.org']) {
        const r = await request(`${gw.url}${path}`, {
          method: 'OPTIONS',
          headers: { Origin: origin, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': 'authorization,range' },
        });
        const what = `OPTIONS ${path} (${method}, ${origin})`;
        assert.equal(r.status, 204, `${what}: ${r.status}`);
        assert.equal(r.body.length, 0, `${what}: body`);
        const allow = r.headers['access-control-allow-origin'];
        assert.ok(allow === '*' || allow === origin, `${what}: Allow-Origin ${allow}`);
        const methods = list(r.headers['access-control-allow-methods']).map((m) => m.toUpperCase());
        for (const m of new Set(['GET', 'HEAD', method])) assert.ok(methods.includes(m), `${what}: ${m} not in Allow-Methods ${r.headers['access-control-allow-methods']}`);
        const hdrs = list(r.headers['access-control-allow-headers']);
        for (const h of ['authorization', 'range']) assert.ok(hdrs.includes(h) || hdrs.includes('*'), `${what}: ${h} not in Allow-Headers ${r.headers['access-control-allow-headers']}`);
      }
    }
    // Preflights are the gateway's business; counting them upstream is not required, but they must
    // not have been turned into GETs.
    assert.equal(hub.requests.slice(before0).filter((q) => q.method !== 'OPTIONS').length, 0, 'a preflight caused a non-OPTIONS upstream request');
  });

  test('CORS headers on answers of every kind', T, async () => {
    const cases = [
      ['info', `/api/models/${repo.id}`, {}],
      ['revision', `/api/models/${repo.id}/revision/main`, {}],
      ['tree page', `/api/models/${repo.id}/tree/main?recursive=true`, {}],
      ['refs', `/api/models/${repo.id}/refs`, {}],
      ['paths-info', `/api/models/${repo.id}/paths-info/main`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ paths: ['config.json'] }) }],
      ['regular file', `/${repo.id}/resolve/${repo.commit}/config.json`, {}],
      ['regular file at main', `/${repo.id}/resolve/main/config.json`, {}],
      ['LFS file', `/${repo.id}/resolve/main/model.safetensors`, {}],
      ['LFS HEAD', `/${repo.id}/resolve/main/model.safetensors`, { method: 'HEAD' }],
      ['range', `/${repo.id}/resolve/main/model.safetensors`, { headers: { Range: 'bytes=0-99' } }],
      ['EntryNotFound', `/${repo.id}/resolve/main/nope.txt`, {}],
      ['RevisionNotFound', `/api/models/${repo.id}/revision/nope`, {}],
      ['RepoNotFound', '/api/models/org/not-there', {}],
      ['dataset tree', `/api/datasets/${ds.id}/tree/main`, {}],
    ];
    for (const [what, path, opts] of cases) {
      for (const origin of [ORIGIN, undefined]) {
        const headers = { ...(opts.headers ?? {}), ...(origin ? { Origin: origin } : {}) };
        const r = await request(`${gw.url}${path}`, { ...opts, headers });
        assert.ok(r.status < 500, `${what}: ${r.status}`);
        assertCors(r, `${what}${origin ? '' : ' (no Origin)'}`, origin);
      }
    }
  });

  test('gzip JSON when asked (tree, info, paths-info), identity otherwise; same JSON', T, async () => {
    const piBody = JSON.stringify({ paths: repo.files().map((f) => f.path), expand: false });
    const cases = [
      ['tree', `/api/models/${repo.id}/tree/main?recursive=true`, {}],
      ['tree at commit', `/api/models/${repo.id}/tree/${repo.commit}?recursive=true&expand=true`, {}],
      ['info', `/api/models/${repo.id}/revision/main?blobs=true`, {}],
      ['dataset info', `/api/datasets/${ds.id}?blobs=true`, {}],
      ['paths-info', `/api/models/${repo.id}/paths-info/main`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: piBody }],
    ];
    for (const [what, path, opts] of cases) {
      const plain = await request(`${gw.url}${path}`, { ...opts });
      assert.equal(plain.status, 200, `${what}: ${plain.status}`);
      assert.equal(plain.headers['content-encoding'], undefined, `${what}: encoded without Accept-Encoding`);
      const plainJson = jsonBody(plain);
      assert.ok(plain.body.length > 1500, `${what}: fixture answer too small (${plain.body.length} bytes)`);
      const fake = await request(`${hub.url}${path}`, { ...opts, checkXet: false });
      const norm = what === 'paths-info' ? byPath : (x) => x;
      assert.deepEqual(norm(plainJson), norm(stripXet(jsonBody(fake))), `${what}: differs from the fake`);
      for (let i = 0; i < 2; i++) {
        // twice: the second answer comes from the cache
        const gz = await request(`${gw.url}${path}`, { ...opts, headers: { ...(opts.headers ?? {}), 'Accept-Encoding': 'gzip, deflate, br' } });
        assert.equal(gz.status, 200);
        assert.equal(gz.headers['content-encoding'], 'gzip', `${what} #${i}: not gzip`);
        assert.ok(list(gz.headers.vary).includes('accept-encoding'), `${what} #${i}: Vary ${gz.headers.vary}`);
        assert.ok(gz.body.length < plain.body.length, `${what} #${i}: gzip body not smaller`);
        assert.deepEqual(JSON.parse(gunzipSync(gz.body).toString('utf8')), plainJson, `${what} #${i}: gzip JSON differs`);
      }
      const id = await request(`${gw.url}${path}`, { ...opts, headers: { ...(opts.headers ?? {}), 'Accept-Encoding': 'identity' } });
      assert.equal(id.headers['content-encoding'], undefined, `${what}: encoded for Accept-Encoding: identity`);
      assert.deepEqual(jsonBody(id), plainJson);
    }
  });
});
