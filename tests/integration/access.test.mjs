// Access control: who may read what through the gateway, and what it does when it cannot ask.
//
// - The matrix {public, private, gated} × {no token, wrong token, entitled token, entitlement
//   revoked upstream} × {cold, warm, upstream down}: status and X-Error-Code exactly as the Hub
//   answers that caller while it can be asked (entitlement TTL 0: every request re-checks), the
//   fail-closed / offline-grace behaviour while it cannot, and not one byte of a private or gated
//   file to a caller the Hub would refuse (bodies compared, not only statuses).
// - The entitlement memo (TTL 10m): a warm entitled request makes no upstream request at all; an
//   explicit 401/403/RepoNotFound from the Hub drops the memo; metadata answers are replayed only
//   to the same credentials.
// - The same blob in a public and a private repo: anonymous callers get it only through the
//   public repo.
// - Gateway keys (admin API and CLI): allowed, denied by glob without contacting the Hub,
//   revoked, mapped to a named credential (the Hub never sees the hgk_ key, the CDN never sees any
//   Authorization), require_key mode, the admin key and admin listener, access-log labels.
// - Secrets: no Hub token, gateway key, admin key, credential token, query string or signed CDN
//   query in any log line (debug level) or in any file of any cache dir (SQLite WAL/SHM included).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomContent, startFakeHub } from '../fakehub/fakehub.mjs';
import {
  cleanEnv,
  curl,
  describeRequests,
  gatewayBinary,
  jsonBody,
  makeTempDir,
  request,
  sha256,
  sleep,
  startGateway,
  upstreamMark,
  upstreamSince,
  withTimeout,
} from './helpers.mjs';

const T = { timeout: 60000 };
const HOOK = { timeout: 60000 };
const hex = (n) => randomBytes(n).toString('hex');
const LFS_SIZE = 150000;

// ------------------------------------------------------------------------------------------------
// Secrets: every secret this file hands to a gateway, a CLI or the fake Hub is registered here and
// searched for at the end in every gateway's stdout+stderr and every file of every cache dir.

const SECRETS = new Map(); // value -> label
function secret(label, value) {
  if (!SECRETS.has(value)) SECRETS.set(value, label);
  return value;
}
const GATEWAYS = []; // every gateway started in this file
const CACHE_DIRS = new Set();
const SNAPSHOTS = []; // {where, buf}: raw bytes of every cache file, taken while its gateway ran
const CLI_LOGS = []; // {where, text}: CLI stderr and non-secret stdout
const CONTROLS = []; // {where, text|buf, value}: places a secret must be found (scanner self-check)

const ADMIN_KEY = secret('admin key', `adm-${hex(20)}`);
const TOKENS = {
  entitled: secret('hub token (entitled)', `hf_ent${hex(16)}`),
  wrong: secret('hub token (unknown to the Hub)', `hf_wrg${hex(16)}`),
  outsider: secret('hub token (valid, no access)', `hf_out${hex(16)}`),
  revoked: {
    public: secret('hub token (revoked, public)', `hf_rvp${hex(16)}`),
    private: secret('hub token (revoked, private)', `hf_rvv${hex(16)}`),
    gated: secret('hub token (revoked, gated)', `hf_rvg${hex(16)}`),
  },
};
const bearer = (tok) => ({ Authorization: `Bearer ${tok}` });

// The signed CDN URLs a fake Hub handed out (signature and whole query string) are secrets too.
const SEEN_BY_UPSTREAM = []; // every request record of every fake Hub (both listeners)
function collectCdnSecrets(hub) {
  SEEN_BY_UPSTREAM.push(...hub.requests);
  for (const r of hub.findRequests({ listener: 'cdn' })) {
    if (r.query.sig) secret('CDN signature', r.query.sig);
    const q = r.url.split('?')[1];
    if (q) secret('CDN signed query string', q);
  }
}

// Every file under `dir` (raw bytes), recursively.
async function readTree(dir) {
  const out = [];
  async function walk(rel) {
    let entries;
    try {
      entries = await readdir(path.join(dir, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      const full = path.join(dir, r);
      if (e.isDirectory()) await walk(r);
      else if (e.isFile()) {
        try {
          out.push({ rel: r, buf: await readFile(full) });
        } catch {
          // removed meanwhile (a temp file)
        }
      }
    }
  }
  await walk('');
  return out;
}

// Starts a gateway for this file: debug logs kept whole, own cache dir (kept until the process
// exits so the secrets scan can read it), admin key configured unless env sets it to null.
async function gateway(hub, env = {}, { cacheDir, extraArgs = [] } = {}) {
  const dir = cacheDir ?? (await makeTempDir('hubgate-access-cache-'));
  CACHE_DIRS.add(dir);
  const e = { HUBGATE_LOG_LEVEL: 'debug', HUBGATE_ADMIN_KEY: ADMIN_KEY, ...env };
  for (const k of Object.keys(e)) if (e[k] === null || e[k] === undefined) delete e[k];
  const gw = await startGateway({ upstream: hub.url, cacheDir: dir, env: e, extraArgs: ['--connect-timeout', '2s', ...extraArgs], logCap: Infinity });
  GATEWAYS.push(gw);
  return gw;
}

// Stops a gateway after a snapshot of its cache dir taken while it runs (WAL/SHM still there).
async function stopGateway(gw) {
  if (!gw) return;
  if (gw.alive()) {
    for (const f of await readTree(gw.cacheDir)) SNAPSHOTS.push({ where: `${gw.cacheDir}/${f.rel} (while running)`, buf: f.buf });
  }
  await gw.stop();
}

// Runs the hubgate CLI; {code, stdout, stderr}. Its stderr is scanned for secrets at the end.
async function cli(args, env = {}) {
  const child = spawn(gatewayBinary(), args, { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const out = [];
  const err = [];
  child.stdout.on('data', (c) => out.push(c));
  child.stderr.on('data', (c) => err.push(c));
  const code = await withTimeout(
    new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    }),
    20000,
    `hubgate ${args.join(' ')}`,
  ).catch((e) => {
    child.kill('SIGKILL');
    throw e;
  });
  const res = { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
  CLI_LOGS.push({ where: `hubgate ${args[0]} ${args[1]} stderr`, text: res.stderr });
  return res;
}

// Polls GET /admin/stats until pred(stats) (the index has recorded what was downloaded: file rows
// and blobs are written off the request path). An observation, bounded by timeoutMs.
async function waitForStats(gw, pred, what, { timeoutMs = 10000, base = gw.url } = {}) {
  const deadline = performance.now() + timeoutMs;
  let last;
  for (;;) {
    const r = await request(`${base}/admin/stats`, { headers: bearer(ADMIN_KEY) });
    assert.equal(r.status, 200, `/admin/stats: ${r.status} ${r.body.toString().slice(0, 200)}`);
    last = jsonBody(r);
    if (pred(last)) return last;
    if (performance.now() > deadline) throw new Error(`timeout waiting for ${what}: stats ${JSON.stringify(last)}`);
    await sleep(25);
  }
}

// ------------------------------------------------------------------------------------------------
// Body checks.

// Throws unless `body` is exactly the file.
function assertFileBytes(body, file, what) {
  assert.equal(body.length, file.size, `${what}: body length`);
  assert.equal(sha256(body), file.sha256, `${what}: body sha256`);
}

// Throws if `body` carries any recognisable part of the file (not one byte of the content: the
// whole file, its start, middle or end, or for a small file the whole content).
function assertNoFileBytes(body, file, what) {
  const bytes = file.bytes();
  assert.notEqual(sha256(body), file.sha256, `${what}: got the file`);
  const w = Math.min(24, bytes.length);
  for (const at of [0, Math.floor(bytes.length / 2) - Math.floor(w / 2), bytes.length - w]) {
    const win = bytes.subarray(Math.max(0, at), Math.max(0, at) + w);
    assert.ok(!body.includes(win), `${what}: body contains file bytes at offset ${at}`);
  }
  assert.ok(body.length < 4096, `${what}: an error answer of ${body.length} bytes`);
}

// ------------------------------------------------------------------------------------------------
// The matrix.
//
// Columns:
//   cold         empty cache: a new gateway per caller; the first request it ever sees for the file
//                (model.bin at main, config.json at the commit).
//   warm         the file is cached: the entitled token and the then-entitled "revoked" token
//                downloaded it through this gateway, then the revoked token lost access at the Hub.
//                Entitlement TTL 0, so every request re-checks with the Hub. Both files, at main
//                and at the commit.
//   down strict  after the warm requests, the Hub and the CDN refuse connections; commit-pinned
//                request for the cached file. Entitlement TTL 0, offline grace 0.
//   down grace   the same with entitlement TTL 0, offline grace 1h.
// Callers:
//   none      no Authorization
//   wrong     a token the Hub does not know
//   entitled  a token the Hub lets read the repo's files (reader of private, approved for gated)
//   revoked   a token that was entitled and lost it at the Hub: removed from the readers (private),
//             from the approved users (gated), deleted (public: the only way to lose a public
//             repo). In the cold run it lost access before the gateway saw the repo.
// Cells: "200" the file's bytes (no X-Hubgate-Stale); "200 stale" the bytes with X-Hubgate-Stale;
//   "<status> [X-Error-Code]" that status and code (none when not given), X-Error-Message as the
//   Hub's own (cold/warm: compared with the fake Hub's answer to the same request), and not one
//   byte of the file.
const MATRIX = `
repo     caller    | cold             | warm             | down strict            | down grace
public   none      | 200              | 200              | 200 stale              | 200 stale
public   wrong     | 401              | 401              | 503 AccessUnverifiable | 503 AccessUnverifiable
public   entitled  | 200              | 200              | 503 AccessUnverifiable | 200 stale
public   revoked   | 401              | 401              | 503 AccessUnverifiable | 503 AccessUnverifiable
private  none      | 401              | 401              | 503 AccessUnverifiable | 503 AccessUnverifiable
private  wrong     | 401              | 401              | 503 AccessUnverifiable | 503 AccessUnverifiable
private  entitled  | 200              | 200              | 503 AccessUnverifiable | 200 stale
private  revoked   | 404 RepoNotFound | 404 RepoNotFound | 503 AccessUnverifiable | 503 AccessUnverifiable
gated    none      | 401 GatedRepo    | 401 GatedRepo    | 503 AccessUnverifiable | 503 AccessUnverifiable
gated    wrong     | 401              | 401              | 503 AccessUnverifiable | 503 AccessUnverifiable
gated    entitled  | 200              | 200              | 503 AccessUnverifiable | 200 stale
gated    revoked   | 403 GatedRepo    | 403 GatedRepo    | 503 AccessUnverifiable | 503 AccessUnverifiable
`;

function parseCell(text) {
  const m = /^(\d{3})(?:\s+(\S+))?$/.exec(text.trim());
  if (!m) throw new Error(`bad matrix cell ${JSON.stringify(text)}`);
  const status = Number(m[1]);
  if (status === 200) return { text: text.trim(), ok: true, stale: m[2] === 'stale' };
  return { text: text.trim(), ok: false, status, code: m[2] };
}

const ROWS = MATRIX.trim()
  .split('\n')
  .slice(1)
  .map((line) => {
    const [head, cold, warm, downStrict, downGrace] = line.split('|');
    const [kind, caller] = head.trim().split(/\s+/);
    return { kind, caller, cold: parseCell(cold), warm: parseCell(warm), 'down strict': parseCell(downStrict), 'down grace': parseCell(downGrace) };
  });
const KINDS = ['public', 'private', 'gated'];
const CALLERS = ['none', 'wrong', 'entitled', 'revoked'];
assert.equal(ROWS.length, KINDS.length * CALLERS.length, 'the matrix has one row per repo kind × caller');

function callerHeaders(caller, kind) {
  switch (caller) {
    case 'none':
      return {};
    case 'wrong':
      return bearer(TOKENS.wrong);
    case 'entitled':
      return bearer(TOKENS.entitled);
    case 'revoked':
      return bearer(TOKENS.revoked[kind]);
    default:
      throw new Error(caller);
  }
}

// Three repos (public, private, gated), each with an LFS file (CDN redirect) and a regular file,
// contents unique to `tag`. The entitled and the revoked tokens may read them (for now).
function addMatrixRepos(hub, tag) {
  hub.addToken(TOKENS.entitled, { name: 'entitled' });
  hub.addToken(TOKENS.outsider, { name: 'outsider' });
  for (const kind of KINDS) hub.addToken(TOKENS.revoked[kind], { name: `revoked-${kind}` });
  const repos = {};
  for (const kind of KINDS) {
    const files = [
      { path: 'model.bin', content: randomContent(`${tag}:${kind}:model`, LFS_SIZE), lfs: true },
      { path: 'config.json', content: `{"marker":"${hex(16)}","repo":"${tag}-${kind}"}\n` },
    ];
    repos[kind] = hub.addRepo({
      id: `org/${tag}-${kind}`,
      files,
      private: kind === 'private',
      gated: kind === 'gated' ? 'manual' : false,
      readers: kind === 'private' ? [TOKENS.entitled, TOKENS.revoked.private] : [],
      approved: kind === 'gated' ? [TOKENS.entitled, TOKENS.revoked.gated] : [],
    });
  }
  return repos;
}

// Withdraws the revoked tokens' access at the Hub.
function revokeAll(hub, repos) {
  hub.removeToken(TOKENS.revoked.public);
  hub.revokeAccess(repos.private, TOKENS.revoked.private);
  hub.revokeAccess(repos.gated, TOKENS.revoked.gated);
}

// One request through the gateway checked against a matrix cell. compareHub: an error answer must
// carry the fake Hub's own status, X-Error-Code and X-Error-Message for the same request.
async function checkCell({ gw, hub, repo, file, rev, headers, cell, what, compareHub = false }) {
  const p = repo.resolvePath(file.path, rev);
  const r = await curl(`${gw.url}${p}`, { headers, timeoutMs: 20000 });
  assert.equal(r.code, 0, `${what}: curl exit ${r.code}: ${r.stderr}`);
  const got = `${r.status} ${r.headers['x-error-code'] ?? ''} ${r.headers['x-error-message'] ?? ''}`;
  if (cell.ok) {
    assert.equal(r.status, 200, `${what}: expected ${cell.text}, got ${got}`);
    assertFileBytes(r.body, file, what);
    if (cell.stale) assert.ok(r.headers['x-hubgate-stale'], `${what}: X-Hubgate-Stale missing`);
    else assert.equal(r.headers['x-hubgate-stale'], undefined, `${what}: unexpected X-Hubgate-Stale`);
  } else {
    assertNoFileBytes(r.body, file, what);
    assert.equal(r.status, cell.status, `${what}: expected ${cell.text}, got ${got}`);
    assert.equal(r.headers['x-error-code'], cell.code, `${what}: X-Error-Code (expected ${cell.text}, got ${got})`);
    if (compareHub) {
      const h = await request(`${hub.url}${p}`, { headers, checkXet: false });
      assert.equal(r.status, h.status, `${what}: status differs from the Hub's`);
      assert.equal(r.headers['x-error-code'], h.headers['x-error-code'], `${what}: X-Error-Code differs from the Hub's`);
      assert.equal(r.headers['x-error-message'], h.headers['x-error-message'], `${what}: X-Error-Message differs from the Hub's`);
    }
  }
  return r;
}

const STRICT_ENV = { HUBGATE_ENTITLEMENT_TTL: '0', HUBGATE_OFFLINE_GRACE: '0' };
const GRACE_ENV = { HUBGATE_ENTITLEMENT_TTL: '0', HUBGATE_OFFLINE_GRACE: '1h' };

describe('access matrix: cold (empty cache per caller; entitlement TTL 0)', () => {
  let hub;
  let repos;

  before(async () => {
    hub = await startFakeHub({ xet: true });
    repos = addMatrixRepos(hub, 'cold');
    revokeAll(hub, repos); // cold: access was withdrawn before the gateway ever saw the repos
  }, HOOK);

  after(async () => {
    if (hub) collectCdnSecrets(hub);
    await hub?.close();
  }, HOOK);

  for (const caller of CALLERS) {
    test(`cold × ${caller}: ${ROWS.filter((r) => r.caller === caller).map((r) => `${r.kind} ${r.cold.text}`).join(', ')}`, T, async () => {
      const gw = await gateway(hub, STRICT_ENV);
      try {
        for (const row of ROWS.filter((r) => r.caller === caller)) {
          const repo = repos[row.kind];
          for (const [file, rev] of [[repo.file('model.bin'), 'main'], [repo.file('config.json'), repo.commit]]) {
            const what = `cold ${row.kind} × ${caller}: ${file.path}@${rev === 'main' ? 'main' : 'commit'}`;
            const mark = upstreamMark(hub);
            await checkCell({ gw, hub, repo, file, rev, headers: callerHeaders(caller, row.kind), cell: row.cold, what, compareHub: true });
            const seen = upstreamSince(hub, mark).filter((q) => q.file?.repoId === repo.id);
            assert.ok(seen.some((q) => q.listener === 'hub'), `${what}: the Hub was not asked`);
            const cdnBodies = seen.filter((q) => q.listener === 'cdn' && q.bodyBytesSent > 0).length;
            if (!row.cold.ok || !file.lfs) assert.equal(cdnBodies, 0, `${what}: CDN body transfers:\n  ${describeRequests(seen)}`);
          }
        }
        assert.equal(hub.countRequests({ listener: 'cdn', hasAuth: true }), 0, 'Authorization sent to the CDN');
      } finally {
        await stopGateway(gw);
      }
    });
  }
});

// Warm and upstream-down columns for one gateway configuration ('strict' or 'grace').
function warmAndDownSuite(config, env) {
  const downCol = `down ${config}`;
  describe(`access matrix: warm and upstream down (${config}: ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')})`, () => {
    let hub;
    let gw;
    let repos;

    before(async () => {
      hub = await startFakeHub({ xet: true });
      repos = addMatrixRepos(hub, `warm-${config}`);
      gw = await gateway(hub, env);
      // The entitled token and the (still entitled) revoked token download everything.
      for (const kind of KINDS) {
        const repo = repos[kind];
        for (const tok of [TOKENS.entitled, TOKENS.revoked[kind]]) {
          for (const file of repo.files()) {
            const r = await curl(`${gw.url}${repo.resolvePath(file.path)}`, { headers: bearer(tok), timeoutMs: 20000 });
            assert.equal(r.status, 200, `prime ${kind} ${file.path}: ${r.status} ${r.headers['x-error-message'] ?? ''}`);
            assertFileBytes(r.body, file, `prime ${kind} ${file.path}`);
          }
        }
      }
      // The index has every file row and blob before anything else happens.
      await waitForStats(gw, (s) => s.files >= 6 && s.blobs >= 6, 'six files and blobs recorded');
      revokeAll(hub, repos);
    }, HOOK);

    after(async () => {
      await hub?.setDown(false, { listener: 'both' });
      await stopGateway(gw);
      if (hub) collectCdnSecrets(hub);
      await hub?.close();
    }, HOOK);

    describe('warm', () => {
      for (const row of ROWS) {
        test(`warm ${row.kind} × ${row.caller}: ${row.warm.text}`, T, async () => {
          const repo = repos[row.kind];
          for (const file of repo.files()) {
            for (const rev of ['main', repo.commit]) {
              const what = `warm ${row.kind} × ${row.caller}: ${file.path}@${rev === 'main' ? 'main' : 'commit'}`;
              const mark = upstreamMark(hub);
              await checkCell({ gw, hub, repo, file, rev, headers: callerHeaders(row.caller, row.kind), cell: row.warm, what, compareHub: true });
              // Entitlement TTL 0: the Hub is asked every time, even for a cached file.
              const seen = upstreamSince(hub, mark).filter((q) => q.listener === 'hub' && q.file?.repoId === repo.id);
              assert.ok(seen.length > 0, `${what}: served without asking the Hub (entitlement TTL 0)`);
            }
          }
        });
      }

      test('no Authorization ever reached the CDN; the file was filled once per blob', T, async () => {
        assert.equal(hub.countRequests({ listener: 'cdn', hasAuth: true }), 0);
        for (const kind of KINDS) {
          assert.equal(hub.cdnBodyTransfers('model.bin', { repo: repos[kind].id }), 1, `${kind}: CDN transfers of model.bin`);
        }
      });

      // (strict only: a metadata confirmation must not touch the grace run's file entitlements
      // before its down column; see 'a later metadata answer …' below for why)
      if (config === 'strict') test('metadata: with entitlement TTL 0 a cached answer is re-checked with the Hub every time', T, async () => {
        const repo = repos.private;
        const u = `${gw.url}/api/models/${repo.id}/revision/${repo.commit}`;
        for (let i = 0; i < 2; i++) {
          const mark = upstreamMark(hub);
          const r = await request(u, { headers: bearer(TOKENS.entitled) });
          assert.equal(r.status, 200, `entitled #${i}`);
          assert.equal(jsonBody(r).sha, repo.commit);
          assert.ok(upstreamSince(hub, mark).some((q) => q.listener === 'hub'), `entitled #${i}: answered without asking the Hub`);
        }
        for (const [caller, status, code] of [['none', 401, undefined], ['wrong', 401, undefined], ['revoked', 404, 'RepoNotFound']]) {
          const r = await request(u, { headers: callerHeaders(caller, 'private') });
          assert.equal(r.status, status, `${caller}: ${r.body.toString().slice(0, 200)}`);
          assert.equal(r.headers['x-error-code'], code, caller);
          assert.ok(!r.body.includes(Buffer.from(repo.commit)) && !r.body.includes(Buffer.from('model.bin')), `${caller}: metadata leaked`);
        }
      });
    });

    describe('upstream down', () => {
      before(async () => {
        await hub.setDown(true, { listener: 'both' });
      }, HOOK);
      after(async () => {
        await hub.setDown(false, { listener: 'both' });
      }, HOOK);

      for (const row of ROWS) {
        const cell = row[downCol];
        test(`down (${config}) ${row.kind} × ${row.caller}: ${cell.text}`, T, async () => {
          const repo = repos[row.kind];
          const headers = callerHeaders(row.caller, row.kind);
          for (const file of repo.files()) {
            await checkCell({ gw, hub, repo, file, rev: repo.commit, headers, cell, what: `down (${config}) ${row.kind} × ${row.caller}: ${file.path}@commit` });
            // At main: the same for callers that are served; never a byte for the others (the
            // gateway may not know main's commit for this caller: 502 or 503).
            const what = `down (${config}) ${row.kind} × ${row.caller}: ${file.path}@main`;
            if (cell.ok) {
              await checkCell({ gw, hub, repo, file, rev: 'main', headers, cell, what });
            } else {
              const r = await curl(`${gw.url}${repo.resolvePath(file.path)}`, { headers, timeoutMs: 20000 });
              assertNoFileBytes(r.body, file, what);
              assert.ok(r.status === 502 || r.status === 503, `${what}: status ${r.status} ${r.headers['x-error-code'] ?? ''}`);
            }
          }
        });
      }

      test('nothing cached: 502 UpstreamUnavailable', T, async () => {
        const fresh = hub.addRepo({ id: `org/never-${config}`, files: [{ path: 'n.bin', content: randomContent(`never-${config}`, 5000), lfs: true }] });
        for (const headers of [{}, bearer(TOKENS.entitled)]) {
          const r = await curl(`${gw.url}${fresh.resolvePath('n.bin', fresh.commit)}`, { headers, timeoutMs: 20000 });
          assert.equal(r.status, 502);
          assert.equal(r.headers['x-error-code'], 'UpstreamUnavailable');
        }
      });
    });

    if (config === 'grace') {
      test('a later metadata answer does not take away the offline grace of a files confirmation', T, async () => {
        // The entitled token downloads a private file, then asks for the repo info (a metadata
        // confirmation, as clients do before and after downloads). The Hub then goes down: the
        // files confirmation is seconds old, well within TTL 0 + grace 1h, so the cached file must
        // be served stale, as it is without the info request (matrix row "private entitled").
        const h2 = await startFakeHub({ xet: true });
        h2.addToken(TOKENS.entitled, { name: 'entitled' });
        const repo = h2.addRepo({ id: 'org/meta-after-files', private: true, readers: [TOKENS.entitled], files: [{ path: 'm.bin', content: randomContent('meta-after', LFS_SIZE), lfs: true }] });
        const file = repo.file('m.bin');
        const g2 = await gateway(h2, env);
        try {
          const r = await curl(`${g2.url}${repo.resolvePath('m.bin')}`, { headers: bearer(TOKENS.entitled) });
          assert.equal(r.status, 200);
          assertFileBytes(r.body, file, 'download');
          await waitForStats(g2, (st) => st.files >= 1 && st.blobs >= 1, 'file recorded');
          const info = await request(`${g2.url}/api/models/${repo.id}/revision/${repo.commit}`, { headers: bearer(TOKENS.entitled) });
          assert.equal(info.status, 200, 'repo info');
          await h2.setDown(true, { listener: 'both' });
          await checkCell({ gw: g2, hub: h2, repo, file, rev: repo.commit, headers: bearer(TOKENS.entitled), cell: parseCell('200 stale'), what: 'entitled, Hub down, after a repo-info request' });
        } finally {
          await stopGateway(g2);
          collectCdnSecrets(h2);
          await h2.close();
        }
      });

      describe('offline mode after a restart (HUBGATE_OFFLINE=true, same cache dir)', () => {
        let off;
        before(async () => {
          const dir = gw.cacheDir;
          await stopGateway(gw);
          gw = null;
          off = await gateway(hub, { ...env, HUBGATE_OFFLINE: 'true' }, { cacheDir: dir });
        }, HOOK);
        after(async () => {
          await stopGateway(off);
        }, HOOK);

        test('entitlements survive the restart; denials too; the Hub is never contacted', T, async () => {
          const mark = upstreamMark(hub);
          for (const row of ROWS) {
            const repo = repos[row.kind];
            for (const file of repo.files()) {
              await checkCell({ gw: off, hub, repo, file, rev: repo.commit, headers: callerHeaders(row.caller, row.kind), cell: row['down grace'], what: `offline ${row.kind} × ${row.caller}: ${file.path}@commit` });
            }
          }
          const fresh = hub.addRepo({ id: 'org/never-offline', files: [{ path: 'n.txt', content: 'n\n' }] });
          const r = await curl(`${off.url}${fresh.resolvePath('n.txt', fresh.commit)}`, { headers: bearer(TOKENS.entitled) });
          assert.equal(r.status, 503);
          assert.equal(r.headers['x-error-code'], 'GatewayOffline');
          assert.deepEqual(upstreamSince(hub, mark).map((q) => q.url), [], 'offline gateway contacted upstream');
        });
      });
    }
  });
}

warmAndDownSuite('strict', STRICT_ENV);
warmAndDownSuite('grace', GRACE_ENV);

// ------------------------------------------------------------------------------------------------

describe('entitlement memo (entitlement TTL 10m, revision TTL 0)', () => {
  let hub;
  let gw;
  let repos;
  // What the Hub answers a revoked token: files, then the repo info.
  const REVOKED = {
    public: { files: [401, undefined], info: [401, undefined] },
    private: { files: [404, 'RepoNotFound'], info: [404, 'RepoNotFound'] },
    gated: { files: [403, 'GatedRepo'], info: [200, undefined] }, // a gated repo's metadata is public
  };

  before(async () => {
    hub = await startFakeHub({ xet: true });
    repos = addMatrixRepos(hub, 'memo');
    gw = await gateway(hub, { HUBGATE_ENTITLEMENT_TTL: '10m', HUBGATE_OFFLINE_GRACE: '0', HUBGATE_REVISION_TTL: '0' });
  }, HOOK);

  after(async () => {
    await hub?.setDown(false, { listener: 'both' });
    await stopGateway(gw);
    if (hub) collectCdnSecrets(hub);
    await hub?.close();
  }, HOOK);

  test('a warm request within the TTL makes no upstream request; other callers are still asked about', T, async () => {
    for (const kind of KINDS) {
      const repo = repos[kind];
      for (const tok of [TOKENS.entitled, TOKENS.revoked[kind]]) {
        for (const file of repo.files()) {
          const r = await curl(`${gw.url}${repo.resolvePath(file.path)}`, { headers: bearer(tok) });
          assert.equal(r.status, 200, `${kind} ${file.path}`);
          assertFileBytes(r.body, file, `${kind} ${file.path}`);
        }
      }
    }
    const anonPublic = await curl(`${gw.url}${repos.public.resolvePath('model.bin')}`);
    assert.equal(anonPublic.status, 200);
    await waitForStats(gw, (s) => s.files >= 6 && s.blobs >= 6, 'six files and blobs recorded');
    for (const kind of KINDS) {
      const repo = repos[kind];
      const callers = [['entitled', TOKENS.entitled], ['revoked (still entitled)', TOKENS.revoked[kind]]];
      if (kind === 'public') callers.push(['anonymous', null]);
      for (const [name, tok] of callers) {
        for (const file of repo.files()) {
          const what = `${kind} × ${name}: ${file.path}@commit`;
          const mark = upstreamMark(hub);
          const r = await curl(`${gw.url}${repo.resolvePath(file.path, repo.commit)}`, { headers: tok ? bearer(tok) : {} });
          assert.equal(r.status, 200, what);
          assertFileBytes(r.body, file, what);
          assert.deepEqual(upstreamSince(hub, mark).map((q) => `${q.listener} ${q.method} ${q.url}`), [], `${what}: upstream requests within the TTL`);
        }
      }
      // Someone else's memo is not theirs: the Hub is asked and refuses.
      if (kind !== 'public') {
        for (const [name, headers] of [['anonymous', {}], ['wrong', bearer(TOKENS.wrong)], ['outsider', bearer(TOKENS.outsider)]]) {
          for (const file of repo.files()) {
            const what = `${kind} × ${name}: ${file.path}@commit`;
            const mark = upstreamMark(hub);
            const r = await curl(`${gw.url}${repo.resolvePath(file.path, repo.commit)}`, { headers });
            assertNoFileBytes(r.body, file, what);
            assert.ok([401, 403, 404].includes(r.status), `${what}: status ${r.status}`);
            assert.ok(upstreamSince(hub, mark).some((q) => q.listener === 'hub'), `${what}: the Hub was not asked`);
          }
        }
      }
    }
  });

  test('metadata: replayed within the TTL to the same credentials only', T, async () => {
    const repo = repos.private;
    const api = `${gw.url}/api/models/${repo.id}`;
    const urls = [`${api}/revision/${repo.commit}`, `${api}/tree/${repo.commit}`];
    for (const u of urls) {
      const first = await request(u, { headers: bearer(TOKENS.entitled) });
      assert.equal(first.status, 200, u);
      const mark = upstreamMark(hub);
      const again = await request(u, { headers: bearer(TOKENS.entitled) });
      assert.equal(again.status, 200, u);
      assert.deepEqual(jsonBody(again), jsonBody(first), `${u}: replayed answer`);
      assert.deepEqual(upstreamSince(hub, mark).map((q) => q.url), [], `${u}: asked upstream within the TTL`);
      for (const [name, headers, status, code] of [
        ['anonymous', {}, 401, undefined],
        ['wrong', bearer(TOKENS.wrong), 401, undefined],
        ['outsider', bearer(TOKENS.outsider), 404, 'RepoNotFound'],
      ]) {
        const m2 = upstreamMark(hub);
        const r = await request(u, { headers });
        assert.equal(r.status, status, `${u} × ${name}: ${r.body.toString().slice(0, 200)}`);
        assert.equal(r.headers['x-error-code'], code, `${u} × ${name}`);
        assert.ok(!r.body.includes(Buffer.from(repo.commit)) && !r.body.includes(Buffer.from('model.bin')), `${u} × ${name}: metadata leaked`);
        assert.ok(upstreamSince(hub, m2).some((q) => q.listener === 'hub'), `${u} × ${name}: the Hub was not asked`);
      }
    }
    // paths-info (POST) too.
    const body = JSON.stringify({ paths: ['model.bin', 'config.json'] });
    const pi = (headers) =>
      request(`${api}/paths-info/${repo.commit}`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers }, body });
    assert.equal((await pi(bearer(TOKENS.entitled))).status, 200);
    const anon = await pi({});
    assert.equal(anon.status, 401);
    assert.ok(!anon.body.includes(Buffer.from(repo.file('model.bin').sha256)), 'paths-info leaked to anonymous');
  });

  test('an explicit 401 / 403 / RepoNotFound drops the memo: the next pinned request asks the Hub again', T, async () => {
    revokeAll(hub, repos);
    for (const kind of KINDS) {
      const repo = repos[kind];
      const headers = bearer(TOKENS.revoked[kind]);
      const [st, code] = REVOKED[kind].files;
      const file = repo.file('model.bin');
      // At main (revision TTL 0: the Hub is asked): the denial.
      const r1 = await curl(`${gw.url}${repo.resolvePath(file.path)}`, { headers });
      assertNoFileBytes(r1.body, file, `${kind} revoked @main`);
      assert.equal(r1.status, st, `${kind} revoked @main`);
      assert.equal(r1.headers['x-error-code'], code, `${kind} revoked @main`);
      // Pinned, cached, within what was the TTL: the memo is gone, so the Hub is asked again.
      for (const f of repo.files()) {
        const what = `${kind} revoked: ${f.path}@commit after the denial`;
        const mark = upstreamMark(hub);
        const r2 = await curl(`${gw.url}${repo.resolvePath(f.path, repo.commit)}`, { headers });
        assertNoFileBytes(r2.body, f, what);
        assert.equal(r2.status, st, what);
        assert.equal(r2.headers['x-error-code'], code, what);
        assert.ok(upstreamSince(hub, mark).some((q) => q.listener === 'hub'), `${what}: served from the memo without asking the Hub`);
      }
      // Metadata: the memo is gone for metadata too.
      const mark = upstreamMark(hub);
      const info = await request(`${gw.url}/api/models/${repo.id}/revision/${repo.commit}`, { headers });
      assert.equal(info.status, REVOKED[kind].info[0], `${kind} revoked: repo info`);
      assert.equal(info.headers['x-error-code'], REVOKED[kind].info[1], `${kind} revoked: repo info`);
      assert.ok(upstreamSince(hub, mark).some((q) => q.listener === 'hub'), `${kind} revoked: repo info answered from the dropped memo`);
    }
    // And with the Hub down, a dropped memo is no memo (grace 0): 503, no bytes.
    await hub.setDown(true, { listener: 'both' });
    try {
      for (const kind of KINDS) {
        const repo = repos[kind];
        const file = repo.file('model.bin');
        const r = await curl(`${gw.url}${repo.resolvePath(file.path, repo.commit)}`, { headers: bearer(TOKENS.revoked[kind]) });
        assertNoFileBytes(r.body, file, `${kind} revoked, Hub down`);
        assert.equal(r.status, 503, `${kind} revoked, Hub down`);
        assert.equal(r.headers['x-error-code'], 'AccessUnverifiable');
        // The entitled memo is still fresh: served from cache.
        const ok = await curl(`${gw.url}${repo.resolvePath(file.path, repo.commit)}`, { headers: bearer(TOKENS.entitled) });
        assert.equal(ok.status, 200, `${kind} entitled, Hub down`);
        assertFileBytes(ok.body, file, `${kind} entitled, Hub down`);
      }
    } finally {
      await hub.setDown(false, { listener: 'both' });
    }
  });
});

// ------------------------------------------------------------------------------------------------

describe('same blob in a public and a private repo', () => {
  let hub;
  let gw;
  const pairs = {};

  before(async () => {
    hub = await startFakeHub({ xet: true });
    hub.addToken(TOKENS.entitled, { name: 'entitled' });
    hub.addToken(TOKENS.outsider, { name: 'outsider' });
    for (const tag of ['a', 'b']) {
      const files = () => [
        { path: 'weights.bin', content: randomContent(`twin-${tag}`, LFS_SIZE), lfs: true },
        { path: 'notes.txt', content: `twin ${tag} ${hex(16)}\n` },
      ];
      const f = files();
      pairs[tag] = {
        pub: hub.addRepo({ id: `org/twin-${tag}-public`, files: f }),
        priv: hub.addRepo({ id: `org/twin-${tag}-private`, private: true, readers: [TOKENS.entitled], files: f }),
      };
    }
    // Default entitlement TTL (10m) and grace (1h): the memo and the shared blob are both warm.
    gw = await gateway(hub, {});
  }, HOOK);

  after(async () => {
    await hub?.setDown(false, { listener: 'both' });
    await stopGateway(gw);
    if (hub) collectCdnSecrets(hub);
    await hub?.close();
  }, HOOK);

  const get = (repo, p, rev, headers = {}, extra = {}) => curl(`${gw.url}${repo.resolvePath(p, rev)}`, { headers, timeoutMs: 20000, ...extra });

  async function assertAnonRefused(priv, what) {
    for (const f of priv.files()) {
      for (const rev of ['main', priv.commit]) {
        for (const [name, headers, status, code] of [
          ['anonymous', {}, 401, undefined],
          ['wrong', bearer(TOKENS.wrong), 401, undefined],
          ['outsider', bearer(TOKENS.outsider), 404, 'RepoNotFound'],
          ['anonymous Range', { Range: 'bytes=0-99' }, 401, undefined],
        ]) {
          const w = `${what}: ${name} ${f.path}@${rev === 'main' ? 'main' : 'commit'}`;
          const r = await get(priv, f.path, rev, headers);
          assertNoFileBytes(r.body, f, w);
          assert.equal(r.status, status, w);
          assert.equal(r.headers['x-error-code'], code, w);
        }
        const h = await get(priv, f.path, rev, {}, { method: 'HEAD' });
        assert.equal(h.status, 401, `${what}: anonymous HEAD ${f.path}`);
        assert.equal(h.headers['x-linked-etag'], undefined, `${what}: HEAD revealed the blob`);
      }
    }
  }

  test('public first: anonymous gets the bytes via the public repo, 401 via the private one', T, async () => {
    const { pub, priv } = pairs.a;
    for (const f of pub.files()) {
      const r = await get(pub, f.path, 'main');
      assert.equal(r.status, 200);
      assertFileBytes(r.body, f, `public ${f.path}`);
    }
    await assertAnonRefused(priv, 'after the public download');
    for (const f of priv.files()) {
      const r = await get(priv, f.path, 'main', bearer(TOKENS.entitled));
      assert.equal(r.status, 200);
      assertFileBytes(r.body, f, `private ${f.path} (entitled)`);
    }
    await assertAnonRefused(priv, 'after the entitled download');
    assert.equal(hub.cdnBodyTransfers('weights.bin'), 1, 'the shared blob was fetched once');
  });

  test('private first: the entitled download does not open the private path to anonymous callers', T, async () => {
    const { pub, priv } = pairs.b;
    for (const f of priv.files()) {
      const r = await get(priv, f.path, 'main', bearer(TOKENS.entitled));
      assert.equal(r.status, 200);
      assertFileBytes(r.body, f, `private ${f.path} (entitled)`);
    }
    await assertAnonRefused(priv, 'after the entitled download');
    for (const f of pub.files()) {
      const r = await get(pub, f.path, pub.commit);
      assert.equal(r.status, 200);
      assertFileBytes(r.body, f, `public ${f.path}`);
    }
    await assertAnonRefused(priv, 'after the public download');
  });

  test('upstream down: anonymous still gets the public copy, never the private one', T, async () => {
    await waitForStats(gw, (s) => s.files >= 8, 'eight file rows recorded');
    await hub.setDown(true, { listener: 'both' });
    try {
      for (const { pub, priv } of Object.values(pairs)) {
        for (const f of pub.files()) {
          // (anonymous memo fresh within the default TTL: served from cache, no Hub question)
          const ok = await get(pub, f.path, pub.commit);
          assert.equal(ok.status, 200, `down: public ${pub.id} ${f.path}`);
          assertFileBytes(ok.body, f, `down: public ${f.path}`);
          for (const [name, headers] of [['anonymous', {}], ['wrong', bearer(TOKENS.wrong)], ['outsider', bearer(TOKENS.outsider)]]) {
            const w = `down: ${name} ${priv.id} ${f.path}@commit`;
            const r = await get(priv, f.path, priv.commit, headers);
            assertNoFileBytes(r.body, f, w);
            assert.equal(r.status, 503, w);
            assert.equal(r.headers['x-error-code'], 'AccessUnverifiable', w);
          }
          // The entitled token's memo is fresh (TTL 10m): served.
          const ent = await get(priv, f.path, priv.commit, bearer(TOKENS.entitled));
          assert.equal(ent.status, 200, `down: entitled ${priv.id} ${f.path}`);
          assertFileBytes(ent.body, f, `down: entitled ${f.path}`);
        }
      }
    } finally {
      await hub.setDown(false, { listener: 'both' });
    }
  });
});

// ------------------------------------------------------------------------------------------------

describe('gateway keys and the admin API', () => {
  let hub;
  let gw;
  let credDir;
  let priv;
  let pub;
  let secretRepo;
  let otherRepo;
  const CRED = secret('credential token (meta)', `hf_crd${hex(16)}`);
  const SPARE = secret('credential token (spare)', `hf_spr${hex(16)}`);
  const DEFAULT = secret('default upstream token', `hf_dft${hex(16)}`);
  const QSECRET = secret('query string value', `q${hex(16)}`);
  let credEnv;
  let ciKey; // admin-API key: credential meta, allow org/*, deny org/secret*
  let cliKey; // CLI key: no credential, allow org/keyed-*

  const KEY_RE = /^hgk_([0-9a-f]{12})_[0-9a-f]{48}$/;
  const admin = (base, method, p, { body, auth = ADMIN_KEY } = {}) => {
    const headers = auth === null ? {} : bearer(auth);
    if (body !== undefined) {
      body = JSON.stringify(body);
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = Buffer.byteLength(body);
    }
    return request(`${base}${p}`, { method, headers, body });
  };
  const createKey = async (base, spec) => {
    const r = await admin(base, 'POST', '/admin/keys', { body: spec });
    assert.equal(r.status, 201, `POST /admin/keys: ${r.status} ${r.body.toString()}`);
    const j = jsonBody(r);
    assert.match(j.key, KEY_RE);
    secret(`gateway key ${spec.name}`, j.key);
    secret(`gateway key ${spec.name} (secret part)`, j.key.slice(17));
    return j;
  };
  const get = (repo, p, headers = {}, rev = 'main') => curl(`${gw.url}${repo.resolvePath(p, rev)}`, { headers, timeoutMs: 20000 });
  const repoRequests = (repo) => hub.requests.filter((q) => q.file?.repoId === repo.id || q.decodedPath.includes(repo.id));

  before(async () => {
    hub = await startFakeHub({ xet: true });
    hub.addToken(CRED, { name: 'robot' });
    hub.addToken(SPARE, { name: 'spare' });
    hub.addToken(DEFAULT, { name: 'default' });
    hub.addToken(TOKENS.entitled, { name: 'entitled' });
    const files = (tag) => [
      { path: 'model.bin', content: randomContent(`keys-${tag}`, LFS_SIZE), lfs: true },
      { path: 'config.json', content: `{"marker":"${hex(16)}"}\n` },
    ];
    priv = hub.addRepo({ id: 'org/keyed-private', private: true, readers: [CRED, DEFAULT], files: files('private') });
    pub = hub.addRepo({ id: 'org/keyed-public', files: files('public') });
    secretRepo = hub.addRepo({ id: 'org/secret-weights', files: files('secret') });
    otherRepo = hub.addRepo({ id: 'other/model', files: files('other') });
    credDir = await makeTempDir('hubgate-access-cred-');
    const credFile = path.join(credDir, 'meta.token');
    const spareFile = path.join(credDir, 'spare.token');
    await writeFile(credFile, `${CRED}\n`, { mode: 0o600 });
    await writeFile(spareFile, `${SPARE}\n`, { mode: 0o600 });
    await chmod(credFile, 0o600);
    await chmod(spareFile, 0o600);
    CONTROLS.push({ where: credFile, buf: await readFile(credFile), value: CRED });
    credEnv = { HUBGATE_CREDENTIALS: `meta=${credFile},spare=${spareFile}` };
    gw = await gateway(hub, credEnv);
  }, HOOK);

  after(async () => {
    await stopGateway(gw);
    if (hub) collectCdnSecrets(hub);
    await hub?.close();
  }, HOOK);

  test('admin API: missing key 401 AdminKeyRequired, wrong key 401 InvalidAdminKey, stats with the key', T, async () => {
    for (const p of ['/admin/stats', '/admin/keys']) {
      const none = await admin(gw.url, 'GET', p, { auth: null });
      assert.equal(none.status, 401, p);
      assert.equal(none.headers['x-error-code'], 'AdminKeyRequired', p);
      const wrong = await admin(gw.url, 'GET', p, { auth: `${ADMIN_KEY}x` });
      assert.equal(wrong.status, 401, p);
      assert.equal(wrong.headers['x-error-code'], 'InvalidAdminKey', p);
      const tok = await admin(gw.url, 'GET', p, { auth: TOKENS.entitled });
      assert.equal(tok.status, 401, `${p} with a Hub token`);
      assert.equal(tok.headers['x-error-code'], 'InvalidAdminKey', p);
    }
    const refused = await admin(gw.url, 'POST', '/admin/keys', { auth: 'not-the-admin-key-at-all', body: { name: 'x' } });
    assert.equal(refused.status, 401);
    assert.equal(jsonBody(await admin(gw.url, 'GET', '/admin/keys')).length, 0, 'a refused POST created a key');
    const st = await admin(gw.url, 'GET', '/admin/stats');
    assert.equal(st.status, 200);
    const j = jsonBody(st);
    for (const k of ['blobs', 'blob_bytes', 'files', 'answers', 'keys_active']) assert.equal(typeof j[k], 'number', `stats.${k}`);
    assert.equal(j.keys_active, 0);
  });

  test('POST /admin/keys: a key mapped to a credential; unknown credential 400; GET lists no secrets', T, async () => {
    ciKey = await createKey(gw.url, { name: 'ci', credential: 'meta', allow: ['org/*'], deny: ['org/secret*'] });
    assert.equal(ciKey.name, 'ci');
    assert.equal(ciKey.credential, 'meta');
    assert.deepEqual(ciKey.allow, ['org/*']);
    assert.deepEqual(ciKey.deny, ['org/secret*']);
    assert.equal(ciKey.revoked_at, null);
    assert.equal(ciKey.key.slice(4, 16), ciKey.id, 'the key starts with its id');
    const bad = await admin(gw.url, 'POST', '/admin/keys', { body: { name: 'x', credential: 'nope' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers['x-error-code'], 'UnknownCredential');
    const list = await admin(gw.url, 'GET', '/admin/keys');
    assert.equal(list.status, 200);
    const keys = jsonBody(list);
    assert.deepEqual(keys.map((k) => k.name), ['ci']);
    assert.deepEqual(Object.keys(keys[0]).sort(), ['allow', 'created_at', 'credential', 'deny', 'id', 'name', 'revoked_at']);
    assert.ok(!list.body.includes(Buffer.from(ciKey.key.slice(17))), 'GET /admin/keys shows the secret');
    assert.equal(jsonBody(await admin(gw.url, 'GET', '/admin/stats')).keys_active, 1);
  });

  test('a key mapped to a credential reads the private repo as that credential; the Hub never sees hgk_, the CDN no Authorization', T, async () => {
    const mark = upstreamMark(hub);
    for (const f of priv.files()) {
      for (const rev of ['main', priv.commit]) {
        const r = await get(priv, f.path, bearer(ciKey.key), rev);
        assert.equal(r.status, 200, `${f.path}@${rev}: ${r.headers['x-error-code'] ?? ''} ${r.headers['x-error-message'] ?? ''}`);
        assertFileBytes(r.body, f, `key ci: ${f.path}`);
      }
    }
    const info = await request(`${gw.url}/api/models/${priv.id}`, { headers: bearer(ciKey.key) });
    assert.equal(info.status, 200, 'repo info with the key');
    const seen = upstreamSince(hub, mark);
    const hubSeen = seen.filter((q) => q.listener === 'hub');
    assert.ok(hubSeen.length > 0, 'the Hub was asked');
    for (const q of hubSeen) assert.equal(q.authorization, `Bearer ${CRED}`, `Hub saw ${q.method} ${q.url} with another Authorization`);
    const cdn = seen.filter((q) => q.listener === 'cdn');
    assert.ok(cdn.length > 0, 'the CDN was used');
    for (const q of cdn) assert.equal(q.hasAuth, false, `CDN ${q.url} got Authorization`);
    // Without the key, the private repo stays closed.
    const anon = await get(priv, 'model.bin', {}, priv.commit);
    assert.equal(anon.status, 401);
    assertNoFileBytes(anon.body, priv.file('model.bin'), 'anonymous after the key read it');
    // A Hub token goes to the Hub as is, never to the CDN.
    const m2 = upstreamMark(hub);
    const own = await get(pub, 'model.bin', bearer(TOKENS.entitled));
    assert.equal(own.status, 200);
    for (const q of upstreamSince(hub, m2)) {
      if (q.listener === 'hub') assert.equal(q.authorization, `Bearer ${TOKENS.entitled}`, `Hub: ${q.url}`);
      else assert.equal(q.hasAuth, false, `CDN: ${q.url}`);
    }
  });

  test('repo globs: outside allow or inside deny -> 403 GatewayKeyDenied, the Hub sees nothing for that repo', T, async () => {
    for (const repo of [secretRepo, otherRepo]) {
      for (const f of repo.files()) {
        for (const rev of ['main', repo.commit]) {
          const r = await get(repo, f.path, bearer(ciKey.key), rev);
          assert.equal(r.status, 403, `${repo.id} ${f.path}@${rev}`);
          assert.equal(r.headers['x-error-code'], 'GatewayKeyDenied');
          assertNoFileBytes(r.body, f, `${repo.id} ${f.path}`);
        }
      }
      for (const p of [`/api/models/${repo.id}`, `/api/models/${repo.id}/revision/main`, `/api/models/${repo.id}/tree/main`]) {
        const r = await request(`${gw.url}${p}`, { headers: bearer(ciKey.key) });
        assert.equal(r.status, 403, p);
        assert.equal(r.headers['x-error-code'], 'GatewayKeyDenied', p);
      }
      assert.deepEqual(repoRequests(repo).map((q) => q.url), [], `the Hub saw requests for ${repo.id}`);
      // Without the key the same repo is public.
      const anon = await get(repo, 'config.json');
      assert.equal(anon.status, 200);
    }
  });

  test('keys add (CLI, while running): a key without credential reaches the Hub anonymously; keys list', T, async () => {
    const add = await cli(['keys', 'add', '--name', 'cli-anon', '--allow', 'org/keyed-*', '--cache-dir', gw.cacheDir], credEnv);
    assert.equal(add.code, 0, add.stderr);
    const key = add.stdout.trim();
    assert.match(key, KEY_RE, 'keys add prints the key alone on stdout');
    CONTROLS.push({ where: 'keys add stdout', text: add.stdout, value: key });
    secret('gateway key cli-anon', key);
    secret('gateway key cli-anon (secret part)', key.slice(17));
    cliKey = { key, id: KEY_RE.exec(key)[1] };
    const list = await cli(['keys', 'list', '--json', '--cache-dir', gw.cacheDir], credEnv);
    CLI_LOGS.push({ where: 'keys list --json stdout', text: list.stdout });
    assert.equal(list.code, 0, list.stderr);
    const keys = JSON.parse(list.stdout);
    const mine = keys.find((k) => k.id === cliKey.id);
    assert.ok(mine, `keys list: ${list.stdout}`);
    assert.equal(mine.name, 'cli-anon');
    assert.deepEqual(mine.allow, ['org/keyed-*']);
    assert.ok(!mine.credential, 'no credential');
    const plain = await cli(['keys', 'list', '--cache-dir', gw.cacheDir], credEnv);
    CLI_LOGS.push({ where: 'keys list stdout', text: plain.stdout });
    assert.equal(plain.code, 0);
    assert.ok(plain.stdout.includes(cliKey.id) && plain.stdout.includes(ciKey.id));
    // The running gateway takes the new key at once.
    const mark = upstreamMark(hub);
    const ok = await get(pub, 'model.bin', bearer(cliKey.key));
    assert.equal(ok.status, 200);
    assertFileBytes(ok.body, pub.file('model.bin'), 'cli key: public');
    const no = await get(priv, 'model.bin', bearer(cliKey.key), priv.commit);
    assertNoFileBytes(no.body, priv.file('model.bin'), 'cli key: private');
    assert.equal(no.status, 401, 'the Hub refuses an anonymous request for the private repo');
    for (const q of upstreamSince(hub, mark)) assert.equal(q.hasAuth, false, `upstream saw Authorization: ${q.listener} ${q.url}`);
    const denied = await get(secretRepo, 'model.bin', bearer(cliKey.key));
    assert.equal(denied.status, 403);
    assert.equal(denied.headers['x-error-code'], 'GatewayKeyDenied');
  });

  test('unknown key: 401 InvalidGatewayKey, nothing upstream', T, async () => {
    const fake = `hgk_${hex(6)}_${hex(24)}`;
    secret('unknown gateway key', fake);
    const forged = `hgk_${ciKey.id}_${hex(24)}`; // a real id with a wrong secret
    secret('forged gateway key', forged);
    const mark = upstreamMark(hub);
    for (const k of [fake, forged]) {
      const r = await get(pub, 'model.bin', bearer(k));
      assert.equal(r.status, 401);
      assert.equal(r.headers['x-error-code'], 'InvalidGatewayKey');
      assertNoFileBytes(r.body, pub.file('model.bin'), 'unknown key');
      const a = await request(`${gw.url}/api/models/${pub.id}`, { headers: bearer(k) });
      assert.equal(a.status, 401);
      assert.equal(a.headers['x-error-code'], 'InvalidGatewayKey');
    }
    assert.deepEqual(upstreamSince(hub, mark).map((q) => q.url), []);
  });

  test('writes with a gateway key: 403 WritesDisabled (default), 403 GatewayKeyReadOnly (passthrough)', T, async () => {
    const body = JSON.stringify({ files: [{ path: 'x.txt', size: 2, sample: 'eA==' }] });
    const post = (base, key) =>
      request(`${base}/api/models/${pub.id}/preupload/main`, {
        method: 'POST',
        headers: { ...bearer(key), 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
        body,
      });
    const mark = upstreamMark(hub);
    const d = await post(gw.url, ciKey.key);
    assert.equal(d.status, 403);
    assert.equal(d.headers['x-error-code'], 'WritesDisabled');
    const pt = await gateway(hub, { ...credEnv, HUBGATE_WRITES: 'passthrough' });
    try {
      const k = await createKey(pt.url, { name: 'writer', credential: 'meta' });
      const w = await post(pt.url, k.key);
      assert.equal(w.status, 403);
      assert.equal(w.headers['x-error-code'], 'GatewayKeyReadOnly');
    } finally {
      await stopGateway(pt);
    }
    assert.deepEqual(upstreamSince(hub, mark).map((q) => `${q.method} ${q.url}`), [], 'a write reached the Hub');
  });

  test('access log: one line per request with the caller label, no query string, no credential', T, async () => {
    const p = pub.resolvePath('config.json');
    await curl(`${gw.url}${p}?download=true&q=${QSECRET}`);
    await curl(`${gw.url}${p}?q=${QSECRET}`, { headers: bearer(TOKENS.entitled) });
    await curl(`${gw.url}${p}?q=${QSECRET}`, { headers: bearer(ciKey.key) });
    const esc = p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    const lines = () => gw.logs().split('\n').filter((l) => new RegExp(`GET ${esc}(\\s|\\?)`).test(l));
    // The log line is written once the answer was sent: poll briefly for it (bounded).
    const deadline = performance.now() + 5000;
    while (!(lines().some((l) => / key:/.test(l)) && lines().some((l) => / token:/.test(l)) && lines().some((l) => / anon\b/.test(l)))) {
      if (performance.now() > deadline) break;
      await sleep(20);
    }
    const ls = lines();
    const line = (re) => ls.find((l) => re.test(l));
    assert.ok(line(new RegExp(`GET ${esc} 200 \\d+B \\d+ms anon\\b`)), `anon line:\n${ls.join('\n')}`);
    const tokLine = line(new RegExp(`GET ${esc} 200 \\d+B \\d+ms token:[0-9a-f]{8}\\b`));
    assert.ok(tokLine, `token line:\n${ls.join('\n')}`);
    const label = /token:([0-9a-f]{8})/.exec(tokLine)[1];
    assert.ok(!TOKENS.entitled.includes(label), 'the token label is a piece of the token');
    assert.ok(line(new RegExp(`GET ${esc} 200 \\d+B \\d+ms key:${ciKey.id}\\b`)), `key line:\n${ls.join('\n')}`);
    assert.ok(!gw.logs().includes(QSECRET), 'a query string was logged');
  });

  test('revocation: via the CLI while running, and via DELETE /admin/keys/<id>; next request 401 InvalidGatewayKey', T, async () => {
    assert.equal((await get(pub, 'config.json', bearer(cliKey.key))).status, 200);
    const rv = await cli(['keys', 'revoke', cliKey.id, '--cache-dir', gw.cacheDir], credEnv);
    CLI_LOGS.push({ where: 'keys revoke stdout', text: rv.stdout });
    assert.equal(rv.code, 0, rv.stderr);
    for (const [name, key] of [['CLI', cliKey.key]]) {
      const mark = upstreamMark(hub);
      const r = await get(pub, 'config.json', bearer(key));
      assert.equal(r.status, 401, `${name}-revoked key`);
      assert.equal(r.headers['x-error-code'], 'InvalidGatewayKey', `${name}-revoked key`);
      assertNoFileBytes(r.body, pub.file('config.json'), `${name}-revoked key`);
      assert.deepEqual(upstreamSince(hub, mark).map((q) => q.url), []);
    }
    assert.equal((await get(priv, 'config.json', bearer(ciKey.key))).status, 200);
    const del = await admin(gw.url, 'DELETE', `/admin/keys/${ciKey.id}`);
    assert.equal(del.status, 204);
    // Cached and memoised for this key's credential: still refused.
    for (const rev of ['main', priv.commit]) {
      const r = await get(priv, 'config.json', bearer(ciKey.key), rev);
      assert.equal(r.status, 401, `admin-revoked key @${rev}`);
      assert.equal(r.headers['x-error-code'], 'InvalidGatewayKey');
      assertNoFileBytes(r.body, priv.file('config.json'), 'admin-revoked key');
    }
    const again = await admin(gw.url, 'DELETE', '/admin/keys/000000000000');
    assert.equal(again.status, 404);
    assert.equal(again.headers['x-error-code'], 'KeyNotFound');
    const keys = jsonBody(await admin(gw.url, 'GET', '/admin/keys'));
    for (const k of keys) assert.notEqual(k.revoked_at, null, `${k.name} not shown revoked`);
    assert.equal(jsonBody(await admin(gw.url, 'GET', '/admin/stats')).keys_active, 0);
  });

  test('a credential or admin key file readable by others is refused at startup (without printing it)', T, async () => {
    for (const [name, env] of [
      ['credential', (f) => ({ HUBGATE_CREDENTIALS: `loose=${f}` })],
      ['admin key', (f) => ({ HUBGATE_ADMIN_KEY: null, HUBGATE_ADMIN_KEY_FILE: f })],
    ]) {
      const f = path.join(credDir, `loose-${name.replace(' ', '-')}`);
      await writeFile(f, `${name === 'credential' ? CRED : ADMIN_KEY}\n`);
      await chmod(f, 0o644);
      const err = await gateway(hub, env(f)).then(
        async (g) => {
          await stopGateway(g);
          return null;
        },
        (e) => e,
      );
      assert.ok(err, `${name} file with mode 0644 accepted`);
      CLI_LOGS.push({ where: `refused start (${name} file 0644)`, text: err.message });
      assert.match(err.message, /exited before listening[\s\S]*readable by group or others/, `${name}: ${err.message}`);
    }
  });

  test('default upstream token: used for anonymous callers, never for a key without credential', T, async () => {
    const g = await gateway(hub, { ...credEnv, HUBGATE_UPSTREAM_TOKEN: DEFAULT });
    try {
      const k = await createKey(g.url, { name: 'plain' });
      const mark = upstreamMark(hub);
      const anon = await curl(`${g.url}${priv.resolvePath('config.json')}`);
      assert.equal(anon.status, 200, 'anonymous via the default token');
      assert.ok(upstreamSince(hub, mark).filter((q) => q.listener === 'hub').every((q) => q.authorization === `Bearer ${DEFAULT}`));
      const m2 = upstreamMark(hub);
      const r = await curl(`${g.url}${priv.resolvePath('config.json', priv.commit)}`, { headers: bearer(k.key) });
      assert.equal(r.status, 401, 'a key without credential must not use the default token');
      assertNoFileBytes(r.body, priv.file('config.json'), 'key without credential');
      for (const q of upstreamSince(hub, m2)) assert.equal(q.hasAuth, false, `upstream saw Authorization: ${q.url}`);
    } finally {
      await stopGateway(g);
    }
  });

  test('require_key: no key or a Hub token -> 401 GatewayKeyRequired, nothing upstream; /health open; a key works', T, async () => {
    const g = await gateway(hub, { ...credEnv, HUBGATE_REQUIRE_KEY: 'true' });
    try {
      const mark = upstreamMark(hub);
      for (const [name, headers] of [['none', {}], ['Hub token', bearer(CRED)], ['other scheme', { Authorization: `Basic ${Buffer.from(`u:${CRED}`).toString('base64')}` }]]) {
        const r = await curl(`${g.url}${pub.resolvePath('model.bin')}`, { headers });
        assert.equal(r.status, 401, name);
        assert.equal(r.headers['x-error-code'], 'GatewayKeyRequired', name);
        assertNoFileBytes(r.body, pub.file('model.bin'), name);
        const a = await request(`${g.url}/api/models/${pub.id}`, { headers });
        assert.equal(a.status, 401, `${name}: api`);
        assert.equal(a.headers['x-error-code'], 'GatewayKeyRequired', `${name}: api`);
      }
      assert.deepEqual(upstreamSince(hub, mark).map((q) => q.url), [], 'refused requests reached upstream');
      assert.equal((await request(`${g.url}/health`)).status, 200);
      const k = await createKey(g.url, { name: 'req', credential: 'meta' });
      const ok = await curl(`${g.url}${priv.resolvePath('model.bin')}`, { headers: bearer(k.key) });
      assert.equal(ok.status, 200);
      assertFileBytes(ok.body, priv.file('model.bin'), 'require_key with a key');
    } finally {
      await stopGateway(g);
    }
  });

  test('admin on its own listener; /metrics requires the admin key; no admin key -> 403 AdminDisabled', T, async () => {
    const adminFile = path.join(credDir, 'admin.key');
    await writeFile(adminFile, `${ADMIN_KEY}\n`, { mode: 0o600 });
    await chmod(adminFile, 0o600);
    const g = await gateway(hub, {
      ...credEnv,
      HUBGATE_ADMIN_KEY: null,
      HUBGATE_ADMIN_KEY_FILE: adminFile,
      HUBGATE_ADMIN_LISTEN: '127.0.0.1:0',
      HUBGATE_METRICS_REQUIRE_ADMIN: 'true',
    });
    try {
      assert.ok(g.adminUrl, `admin URL not printed: ${g.stdout()}`);
      assert.notEqual(g.adminUrl, g.url);
      const main = await admin(g.url, 'GET', '/admin/stats');
      assert.equal(main.status, 404, 'the main listener answers /admin/* with 404');
      assert.equal((await admin(g.url, 'POST', '/admin/keys', { body: { name: 'x' } })).status, 404);
      assert.equal((await admin(g.adminUrl, 'GET', '/admin/stats')).status, 200);
      const none = await admin(g.adminUrl, 'GET', '/admin/stats', { auth: null });
      assert.equal(none.status, 401);
      assert.equal(none.headers['x-error-code'], 'AdminKeyRequired');
      const k = await createKey(g.adminUrl, { name: 'via-admin-listener' });
      assert.equal((await curl(`${g.url}${pub.resolvePath('config.json')}`, { headers: bearer(k.key) })).status, 200);
      for (const base of [g.url, g.adminUrl]) {
        const m0 = await request(`${base}/metrics`);
        assert.equal(m0.status, 401, `${base}/metrics without the admin key`);
        const mw = await request(`${base}/metrics`, { headers: bearer(`${ADMIN_KEY}x`) });
        assert.equal(mw.status, 401, `${base}/metrics with a wrong key`);
        const m1 = await request(`${base}/metrics`, { headers: bearer(ADMIN_KEY) });
        assert.equal(m1.status, 200, `${base}/metrics with the admin key`);
        assert.match(m1.body.toString(), /^# (HELP|TYPE) /m);
      }
      assert.equal((await request(`${g.url}/health`)).status, 200);
    } finally {
      await stopGateway(g);
    }
    const noAdmin = await gateway(hub, { ...credEnv, HUBGATE_ADMIN_KEY: null });
    try {
      for (const auth of [null, ADMIN_KEY]) {
        const r = await admin(noAdmin.url, 'GET', '/admin/keys', { auth });
        assert.equal(r.status, 403);
        assert.equal(r.headers['x-error-code'], 'AdminDisabled');
      }
      assert.equal((await request(`${noAdmin.url}/metrics`)).status, 200, '/metrics stays open by default');
    } finally {
      await stopGateway(noAdmin);
    }
  });
});

// ------------------------------------------------------------------------------------------------

describe('secrets', () => {
  test('no fake Hub or CDN ever saw a gateway key (URL or any header); the CDN never saw Authorization', T, () => {
    assert.ok(SEEN_BY_UPSTREAM.length > 0);
    const bad = SEEN_BY_UPSTREAM.filter((q) => /hgk_/.test(q.url) || /hgk_/.test(JSON.stringify(q.headers)));
    assert.deepEqual(bad.map((q) => `${q.listener} ${q.method} ${q.url}`), []);
    const cdn = SEEN_BY_UPSTREAM.filter((q) => q.listener === 'cdn');
    assert.ok(cdn.length > 0);
    assert.deepEqual(cdn.filter((q) => q.hasAuth).map((q) => q.url), [], 'Authorization sent to the CDN');
  });


  test('no secret in any gateway log line or any cache file (raw bytes, SQLite WAL/SHM included)', T, async () => {
    for (const gw of GATEWAYS) assert.ok(!gw.alive(), `gateway ${gw.url} still running`);
    // The scan must not be vacuous.
    const labels = [...SECRETS.values()];
    for (const kind of ['hub token', 'gateway key', 'admin key', 'credential token', 'CDN signature', 'CDN signed query string']) {
      assert.ok(labels.some((l) => l.startsWith(kind)), `no ${kind} registered`);
    }
    assert.ok(GATEWAYS.length >= 10, `${GATEWAYS.length} gateways`);
    const logs = GATEWAYS.flatMap((g) => [
      { where: `${g.url} stderr`, text: g.logs() },
      { where: `${g.url} stdout`, text: g.stdout() },
    ]);
    // Every gateway ran at debug level (startGateway passes --log-level debug, and the env says so);
    // the logs hold the access lines of all three caller kinds.
    for (const g of GATEWAYS) assert.ok(g.args.join(' ').includes('--log-level debug'), `${g.url}: not at debug level`);
    for (const re of [/ 200 \d+B \d+ms anon\b/, / token:[0-9a-f]{8}\b/, / key:[0-9a-f]{12}\b/]) {
      assert.ok(logs.some((l) => re.test(l.text)), `no log line matching ${re}: logs not captured`);
    }
    const files = [...SNAPSHOTS];
    for (const dir of CACHE_DIRS) for (const f of await readTree(dir)) files.push({ where: `${dir}/${f.rel} (after stop)`, buf: f.buf });
    assert.ok(files.some((f) => /-wal \(while running\)$/.test(f.where)), 'no SQLite WAL file was scanned');
    // Scanner self-check: it finds a secret where one must be (the key printed by keys add, the
    // credential token file).
    assert.ok(CONTROLS.length >= 2);
    for (const c of CONTROLS) {
      const hit = c.text !== undefined ? c.text.includes(c.value) : c.buf.includes(Buffer.from(c.value));
      assert.ok(hit && SECRETS.has(c.value), `scanner self-check failed for ${c.where}`);
    }
    const found = [];
    for (const [value, label] of SECRETS) {
      const needle = Buffer.from(value);
      for (const l of logs.concat(CLI_LOGS)) {
        const i = l.text.indexOf(value);
        if (i >= 0) found.push(`${label} in ${l.where}: …${l.text.slice(Math.max(0, i - 80), i + value.length + 20)}…`);
      }
      for (const f of files) if (f.buf.includes(needle)) found.push(`${label} in ${f.where}`);
    }
    assert.deepEqual(found, [], `secrets in plain text:\n  ${found.join('\n  ')}`);
  });
});
