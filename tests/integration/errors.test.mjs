// Errors: upstream errors passed through (EntryNotFound, RevisionNotFound, private/gated, 5xx),
// upstream unreachable -> 502, malformed requests -> 400 without harm, redirects to hosts outside
// the allowlist refused (502) before any request reaches them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startFakeHub, randomContent } from '../fakehub/fakehub.mjs';
import { curl, rawHttp, request, sha256, startGateway } from './helpers.mjs';

const T = { timeout: 60000 };

describe('errors', () => {
  let hub;
  let gw;
  let repo;
  let priv;
  let gated;
  let trap;
  const trapRequests = [];

  before(async () => {
    hub = await startFakeHub({ xet: true });
    hub.addToken('tok-reader', { name: 'reader' });
    hub.addToken('tok-other', { name: 'other' });
    repo = hub.addRepo({
      id: 'org/errs',
      files: [
        { path: 'reg.txt', content: 'regular\n' },
        { path: 'a/reg.txt', content: 'nested\n' },
        { path: 'e503.txt', content: 'unavailable\n' },
        { path: 'e503.bin', content: randomContent('err-503', 100000), lfs: true },
        { path: 'redir-a.bin', content: randomContent('err-redir-a', 100000), lfs: true },
        { path: 'redir-b.bin', content: randomContent('err-redir-b', 100000), lfs: true },
      ],
    });
    priv = hub.addRepo({
      id: 'org/private',
      private: true,
      readers: ['tok-reader'],
      files: [
        { path: 'secret.txt', content: 'secret text\n' },
        { path: 'secret.bin', content: randomContent('err-secret', 200000), lfs: true },
      ],
    });
    gated = hub.addRepo({
      id: 'org/gated',
      gated: 'manual',
      approved: ['tok-reader'],
      files: [{ path: 'g.bin', content: randomContent('err-gated', 100000), lfs: true }],
    });
    // A listener on another loopback address: a redirect there must never be followed.
    trap = http.createServer((req, res) => {
      trapRequests.push(`${req.method} ${req.url}`);
      res.end('trapped');
    });
    await new Promise((r, j) => trap.once('error', j).listen(0, '127.0.0.2', r));
    gw = await startGateway({ upstream: hub.url });
  }, { timeout: 60000 });

  after(async () => {
    await gw?.stop();
    await hub?.close();
    trap?.closeAllConnections();
    await new Promise((r) => (trap ? trap.close(() => r()) : r()));
  }, { timeout: 30000 });

  const url = (r, path, rev = 'main') => `${gw.url}${r.resolvePath(path, rev)}`;

  test('404 EntryNotFound passed through with code, message and X-Repo-Commit', T, async () => {
    for (const rev of ['main', repo.commit]) {
      for (const method of ['GET', 'HEAD']) {
        const r = await curl(url(repo, 'missing.txt', rev), { method });
        assert.equal(r.status, 404, `${method} @${rev}`);
        assert.equal(r.headers['x-error-code'], 'EntryNotFound', `${method} @${rev}`);
        assert.equal(r.headers['x-error-message'], 'Entry not found', `${method} @${rev}`);
        assert.equal(r.headers['x-repo-commit'], repo.commit, `${method} @${rev}`);
      }
    }
  });

  test('404 RevisionNotFound passed through', T, async () => {
    const r = await curl(url(repo, 'reg.txt', 'no-such-branch'));
    assert.equal(r.status, 404);
    assert.equal(r.headers['x-error-code'], 'RevisionNotFound');
    assert.equal(r.headers['x-error-message'], 'Invalid rev id: no-such-branch');
  });

  test('private repo: 401 without token, content with it, never served from cache to anonymous', T, async () => {
    for (const path of ['secret.txt', 'secret.bin']) {
      const f = priv.file(path);
      const anon = await curl(url(priv, path));
      assert.equal(anon.status, 401, `${path}: anonymous`);
      assert.equal(anon.headers['x-error-message'], 'Invalid username or password.', `${path}: 401 message`);
      assert.notEqual(sha256(anon.body), f.sha256);
      const ok = await curl(url(priv, path), { headers: { Authorization: 'Bearer tok-reader' } });
      assert.equal(ok.status, 200, `${path}: with token`);
      assert.equal(sha256(ok.body), f.sha256);
      const again = await curl(url(priv, path));
      assert.equal(again.status, 401, `${path}: anonymous after the file was cached for a token`);
      assert.ok(!again.body.includes(f.bytes().subarray(0, Math.min(16, f.size))), `${path}: cached bytes leaked to an anonymous client`);
      const other = await curl(url(priv, path, priv.commit), { headers: { Authorization: 'Bearer tok-other' } });
      assert.equal(other.status, 404, `${path}: token without access`);
      assert.equal(other.headers['x-error-code'], 'RepoNotFound');
    }
    assert.equal(hub.countRequests({ listener: 'cdn', hasAuth: true }), 0, 'Authorization sent to the CDN');
  });

  test('gated repo: 401 / 403 GatedRepo passed through', T, async () => {
    const anon = await curl(url(gated, 'g.bin'));
    assert.equal(anon.status, 401);
    assert.equal(anon.headers['x-error-code'], 'GatedRepo');
    const no = await curl(url(gated, 'g.bin'), { headers: { Authorization: 'Bearer tok-other' } });
    assert.equal(no.status, 403);
    assert.equal(no.headers['x-error-code'], 'GatedRepo');
    assert.match(no.headers['x-error-message'], /not in the authorized list/);
    const yes = await curl(url(gated, 'g.bin'), { headers: { Authorization: 'Bearer tok-reader' } });
    assert.equal(yes.status, 200);
    assert.equal(sha256(yes.body), gated.file('g.bin').sha256);
  });

  test('upstream 503 is passed through', T, async () => {
    const f1 = hub.fault({ listener: 'hub', path: 'e503.txt' }, { status: 503, errorMessage: 'Service Unavailable' });
    const f2 = hub.fault({ listener: 'hub', path: 'e503.bin' }, { status: 503, errorMessage: 'Service Unavailable' });
    try {
      for (const [path, rev] of [['e503.txt', 'main'], ['e503.txt', repo.commit], ['e503.bin', 'main']]) {
        const r = await curl(url(repo, path, rev));
        assert.equal(r.status, 503, `${path}@${rev}`);
      }
    } finally {
      f1.remove();
      f2.remove();
    }
    // Once upstream recovers, the file is served.
    const ok = await curl(url(repo, 'e503.bin'));
    assert.equal(ok.status, 200);
    assert.equal(sha256(ok.body), repo.file('e503.bin').sha256);
  });

  test('redirect to a host outside the allowlist: 502, the target sees nothing', T, async () => {
    const trapPort = trap.address().port;
    hub.fault({ listener: 'hub', path: 'redir-a.bin' }, { location: (loc) => loc.replace(hub.cdnUrl, `http://127.0.0.2:${trapPort}`) });
    hub.fault({ listener: 'hub', path: 'redir-b.bin' }, { location: (loc) => loc.replace('//127.0.0.1:', '//localhost:') });
    for (const path of ['redir-a.bin', 'redir-b.bin']) {
      const r = await curl(url(repo, path));
      assert.equal(r.status, 502, `${path}: status`);
      assert.ok(r.headers['x-error-message'], `${path}: X-Error-Message missing`);
      assert.ok(!r.body.includes(Buffer.from('trapped')), `${path}: body from the redirect target`);
    }
    assert.deepEqual(trapRequests, [], 'the 127.0.0.2 target received requests');
    assert.equal(hub.countRequests({ listener: 'cdn', path: 'redir-b.bin' }), 0, 'the CDN (reached as localhost) received a request');
    assert.equal(hub.countRequests({ listener: 'cdn', path: 'redir-a.bin' }), 0);
  });

  test('malformed requests get 400 with a message; nothing is forwarded; the gateway survives', T, async () => {
    const before = hub.requests.length;
    const big = 'a'.repeat(100 * 1024);
    const cases = [
      ['dot-dot segments', `GET /org/errs/resolve/main/../../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`],
      ['dot-dot in the file path', `GET /org/errs/resolve/main/a/../reg.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`],
      ['encoded dot-dot', `GET /org/errs/resolve/main/a/%2e%2e/reg.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`],
      ['dot-dot as the repo', `GET /org/../resolve/main/reg.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`],
      ['NUL byte', `GET /org/errs/resolve/main/reg%00.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`],
      ['100 KiB header', `GET /org/errs/resolve/main/reg.txt HTTP/1.1\r\nHost: x\r\nX-Big: ${big}\r\nConnection: close\r\n\r\n`],
    ];
    for (const [name, text] of cases) {
      const r = await rawHttp(gw.url, text);
      assert.equal(r.status, 400, `${name}: status ${r.status} (${r.raw.subarray(0, 200).toString()})`);
      assert.ok(r.headers['x-error-message'] || r.body.length > 0, `${name}: 400 without a message`);
    }
    assert.deepEqual(hub.requests.slice(before).map((q) => q.url), [], 'malformed requests reached upstream');
    assert.equal(gw.proc.exitCode, null, 'gateway exited');
    const h = await request(`${gw.url}/health`);
    assert.equal(h.status, 200);
    const ok = await curl(url(repo, 'reg.txt'));
    assert.equal(ok.status, 200);
    assert.equal(ok.body.toString(), 'regular\n');
  });

  test('upstream unreachable: 502', T, async () => {
    const cold = hub.addRepo({ id: 'org/unreachable', files: [{ path: 'x.txt', content: 'x' }, { path: 'y.bin', content: randomContent('unreach', 10000), lfs: true }] });
    await hub.setDown(true, { listener: 'hub' });
    try {
      for (const [path, rev] of [['x.txt', 'main'], ['y.bin', cold.commit]]) {
        const r = await curl(url(cold, path, rev), { timeoutMs: 30000 });
        assert.equal(r.code, 0, `curl exit ${r.code}: ${r.stderr}`);
        assert.equal(r.status, 502, `${path}@${rev}`);
      }
    } finally {
      await hub.setDown(false, { listener: 'hub' });
    }
    const h = await request(`${gw.url}/health`);
    assert.equal(h.status, 200);
    const ok = await curl(url(cold, 'x.txt'));
    assert.equal(ok.status, 200, 'after upstream came back');
    assert.equal(ok.body.toString(), 'x');
  });
});
