// Prefetch, pins and the cache commands (issue 6): a prefetch through the admin API warms a repo
// so that a following download makes no upstream body transfer; a prefetch interrupted by a
// restart completes after it; `hubgate cache ...` drives the same API and shows progress.
// Oracles: the fake Hub's transfer log, X-Hubgate-Cache, job records, bytes on disk.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync, openSync, writeSync, closeSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { startFakeHub, randomContent } from '../fakehub/fakehub.mjs';
import { gatewayBinary, makeTempDir, request, requestHash, sleep, startGateway, withTimeout } from './helpers.mjs';

const MiB = 1024 * 1024;
const ADMIN_KEY = 'hgadmin-prefetch-test-0123456789abcdef';
const ENV = { HUBGATE_ADMIN_KEY: ADMIN_KEY, HUBGATE_PREFETCH_RETRY_BACKOFF: '50ms' };

function admin(gw, method, p, body) {
  return request(`${gw.url}${p}`, {
    method,
    headers: { Authorization: `Bearer ${ADMIN_KEY}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
}
const json = (r) => JSON.parse(r.body.toString('utf8'));

async function waitJob(gw, id, pred, timeoutMs = 60000) {
  const until = Date.now() + timeoutMs;
  let job;
  while (Date.now() < until) {
    const r = await admin(gw, 'GET', `/admin/jobs/${id}`);
    assert.equal(r.status, 200, r.body.toString());
    job = json(r);
    if (pred(job)) return job;
    await sleep(50);
  }
  throw new Error(`job ${id} did not reach the expected state: ${JSON.stringify(job)}`);
}
const ended = (j) => !['queued', 'running'].includes(j.state);

function cli(args, env = {}) {
  return new Promise((resolve) => {
    execFile(gatewayBinary(), args, { env: { PATH: process.env.PATH, ...env }, timeout: 60000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('prefetch', () => {
  let hub;
  let repo;
  const transfers = (p) => hub.cdnBodyTransfers(p) + hub.hubBodyTransfers(p);

  before(async () => {
    hub = await startFakeHub();
    repo = hub.addRepo({
      id: 'org/warm',
      files: [
        { path: 'model-1.bin', content: randomContent('warm-1', 6 * MiB), lfs: true },
        { path: 'model-2.bin', content: randomContent('warm-2', 5 * MiB + 7), lfs: true },
        { path: 'config.json', content: randomContent('warm-cfg', 700) },
        { path: 'README.md', content: randomContent('warm-readme', 300) },
        { path: 'extra/skip.bin', content: randomContent('warm-skip', 1 * MiB), lfs: true },
      ],
    });
  }, { timeout: 30000 });
  after(async () => {
    await hub?.close();
  });

  test('prefetch warms a repo: the following downloads make no upstream body transfer', { timeout: 90000 }, async () => {
    const gw = await startGateway({ upstream: hub.url, env: ENV });
    try {
      const started = await admin(gw, 'POST', '/admin/prefetch', {
        repo: 'org/warm',
        include: ['*.bin', '*.json'],
        exclude: ['extra/*'],
        pin: true,
      });
      assert.equal(started.status, 202, started.body.toString());
      const id = json(started).id;
      assert.match(started.headers.location, new RegExp(`/admin/jobs/${id}$`));
      const job = await waitJob(gw, id, ended);
      assert.equal(job.state, 'done', JSON.stringify(job));
      assert.equal(job.progress.files_total, 3);
      assert.equal(job.progress.files_done, 3);
      assert.equal(job.progress.commit, repo.resolveRevision('main'));
      const wanted = ['model-1.bin', 'model-2.bin', 'config.json'];
      assert.equal(job.progress.bytes_done, wanted.reduce((n, p) => n + repo.file(p).size, 0));
      for (const p of wanted) {
        const before = transfers(p);
        const r = await requestHash(`${gw.url}${repo.resolvePath(p)}`);
        assert.equal(r.status, 200);
        assert.equal(r.sha256, repo.file(p).sha256, p);
        assert.equal(r.headers['x-hubgate-cache'], 'hit', p);
        assert.equal(transfers(p), before, `${p}: no upstream body after the prefetch`);
      }
      // Excluded and not included files were not fetched.
      assert.equal(transfers('extra/skip.bin'), 0);
      assert.equal(transfers('README.md'), 0);
      // pin: true pinned the repo.
      const pins = json(await admin(gw, 'GET', '/admin/pins'));
      assert.deepEqual(pins.map((p) => `${p.type}/${p.repo}`), ['model/org/warm']);
      // The job is listed.
      const jobs = json(await admin(gw, 'GET', '/admin/jobs'));
      assert.ok(jobs.some((j) => j.id === id && j.state === 'done'));
    } finally {
      await gw.stop();
    }
  });

  test('bad prefetch requests get a clear 400', { timeout: 30000 }, async () => {
    const gw = await startGateway({ upstream: hub.url, env: { ...ENV, HUBGATE_POLICY_PROXY_DENY: 'org/denied' } });
    try {
      for (const [body, re] of [
        [{ repo: 'org/denied' }, /policy does not serve org\/denied/],
        [{}, /repo/],
        [{ repo: 'org/warm', type: 'kernel' }, /type/],
        [{ repo: 'org/warm', include: [3] }, /include/],
        [{ repo: 'org/warm', credential: 'nope' }, /credential 'nope'/],
      ]) {
        const r = await admin(gw, 'POST', '/admin/prefetch', body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.match(json(r).error, re);
      }
      const noKey = await request(`${gw.url}/admin/prefetch`, { method: 'POST', body: '{"repo":"org/warm"}' });
      assert.equal(noKey.status, 401);
    } finally {
      await gw.stop();
    }
  });

  test('a prefetch interrupted by a restart completes after it', { timeout: 90000 }, async () => {
    const cacheDir = await makeTempDir('hubgate-prefetch-');
    const other = hub.addRepo({
      id: 'org/resume',
      files: [
        { path: 'a.bin', content: randomContent('resume-a', 3 * MiB), lfs: true },
        { path: 'b.bin', content: randomContent('resume-b', 8 * MiB), lfs: true },
        { path: 'c.bin', content: randomContent('resume-c', 2 * MiB), lfs: true },
      ],
    });
    // b.bin's transfer stops half-way: the gateway is killed while the job waits for it.
    const hold = hub.fault({ listener: 'cdn', path: 'b.bin' }, { pauseAt: 4 * MiB });
    let gw = await startGateway({ upstream: hub.url, cacheDir, env: ENV });
    let id;
    try {
      const started = await admin(gw, 'POST', '/admin/prefetch', { repo: 'org/resume' });
      assert.equal(started.status, 202);
      id = json(started).id;
      await withTimeout(hold.gate.reached, 30000, 'b.bin transfer reaching 4 MiB');
      const running = await waitJob(gw, id, (j) => j.progress.files_done >= 1);
      assert.equal(running.state, 'running');
      await gw.kill9();
    } finally {
      hold.gate.release();
      hold.remove();
    }
    const commit = other.resolveRevision('main');
    // Meanwhile main moves on: the resumed job must finish the commit it started.
    other.addCommit({ files: [{ path: 'd.bin', content: randomContent('resume-d', 1024), lfs: true }] });
    gw = await startGateway({ upstream: hub.url, cacheDir, env: ENV });
    try {
      const job = await waitJob(gw, id, ended);
      assert.equal(job.state, 'done', JSON.stringify(job));
      assert.equal(job.progress.commit, commit);
      assert.equal(job.progress.files_total, 3);
      assert.equal(job.progress.files_done, 3);
      assert.ok(job.progress.files_cached >= 1, 'a.bin was already cached before the restart');
      for (const p of ['a.bin', 'b.bin', 'c.bin']) {
        const before = transfers(p);
        const r = await requestHash(`${gw.url}${other.resolvePath(p, commit)}`);
        assert.equal(r.sha256, other.file(p, commit).sha256, p);
        assert.equal(r.headers['x-hubgate-cache'], 'hit', p);
        assert.equal(transfers(p), before, p);
      }
      assert.equal(transfers('d.bin'), 0, 'files of the newer commit were not fetched');
    } finally {
      await gw.stop();
    }
  });

  test('a prefetch can be cancelled; failing files are retried, then reported', { timeout: 90000 }, async () => {
    const gw = await startGateway({ upstream: hub.url, env: { ...ENV, HUBGATE_PREFETCH_MAX_ATTEMPTS: '3' } });
    const r2 = hub.addRepo({
      id: 'org/flaky',
      files: [
        { path: 'ok.bin', content: randomContent('flaky-ok', 1 * MiB), lfs: true },
        { path: 'broken.bin', content: randomContent('flaky-broken', 1 * MiB), lfs: true },
      ],
    });
    try {
      // Every attempt at broken.bin fails upstream.
      const fault = hub.fault({ listener: 'cdn', path: 'broken.bin' }, { status: 500 });
      const started = json(await admin(gw, 'POST', '/admin/prefetch', { repo: 'org/flaky' }));
      const job = await waitJob(gw, started.id, ended);
      fault.remove();
      assert.equal(job.state, 'failed');
      assert.equal(job.progress.files_done, 1);
      assert.equal(job.progress.files_failed, 1);
      assert.equal(job.progress.retries, 2, 'two retries after the first attempt');
      assert.equal(job.progress.errors[0].path, 'broken.bin');
      // The file that could be fetched was cached despite its sibling's failure.
      const before = transfers('ok.bin');
      const ok = await requestHash(`${gw.url}${r2.resolvePath('ok.bin')}`);
      assert.equal(ok.sha256, r2.file('ok.bin').sha256);
      assert.equal(ok.headers['x-hubgate-cache'], 'hit');
      assert.equal(transfers('ok.bin'), before);

      const hold = hub.fault({ listener: 'cdn', path: 'slow.bin' }, { pauseAt: 1 });
      hub.addRepo({ id: 'org/cancel', files: [{ path: 'slow.bin', content: randomContent('cancel-slow', 2 * MiB), lfs: true }] });
      const c = json(await admin(gw, 'POST', '/admin/prefetch', { repo: 'org/cancel' }));
      await withTimeout(hold.gate.reached, 20000, 'slow.bin transfer started');
      const cancel = await admin(gw, 'DELETE', `/admin/jobs/${c.id}`);
      assert.equal(cancel.status, 202);
      const cancelled = await waitJob(gw, c.id, ended);
      hold.gate.release();
      assert.equal(cancelled.state, 'cancelled');
      assert.equal((await admin(gw, 'DELETE', `/admin/jobs/${c.id}`)).status, 404, 'no longer running');
    } finally {
      await gw.stop();
    }
  });

  test('hubgate cache: prefetch with progress, ls, stats, pin, unpin, rm, verify, gc', { timeout: 120000 }, async () => {
    const gw = await startGateway({ upstream: hub.url, env: ENV });
    const keyDir = await makeTempDir('hubgate-cli-');
    const keyFile = path.join(keyDir, 'admin.key');
    writeFileSync(keyFile, `${ADMIN_KEY}\n`, { mode: 0o600 });
    const base = ['--url', gw.url, '--admin-key-file', keyFile];
    try {
      const pre = await cli(['cache', 'prefetch', 'org/warm', '--include', '*.bin', ...base]);
      assert.equal(pre.code, 0, pre.stderr + pre.stdout);
      const lines = pre.stdout.trim().split('\n');
      assert.match(lines[lines.length - 1], /^prefetch [0-9a-f]{12} done: 3\/3 files/);
      assert.ok(lines.length >= 2, `progress lines: ${pre.stdout}`);

      const ls = await cli(['cache', 'ls', '--json', ...base]);
      assert.equal(ls.code, 0, ls.stderr);
      const warm = JSON.parse(ls.stdout).find((e) => e.repo === 'org/warm');
      const binBytes = ['model-1.bin', 'model-2.bin', 'extra/skip.bin'].reduce((n, p) => n + repo.file(p).size, 0);
      assert.equal(warm.bytes, binBytes);
      assert.equal(warm.files, 3);

      const stats = await cli(['cache', 'stats', ...base]);
      assert.equal(stats.code, 0, stats.stderr);
      assert.match(stats.stdout, /cached: +\d/);

      assert.equal((await cli(['cache', 'pin', 'org/warm', ...base])).code, 0);
      const pinned = await cli(['cache', 'ls', ...base]);
      assert.match(pinned.stdout, /org\/warm .* yes/);
      assert.equal((await cli(['cache', 'unpin', 'org/warm', ...base])).code, 0);
      const unpinAgain = await cli(['cache', 'unpin', 'org/warm', ...base]);
      assert.equal(unpinAgain.code, 1);
      assert.match(unpinAgain.stderr, /not pinned/);

      // Corrupt one blob on disk: verify finds it, quarantines it, and the next download is a
      // miss with the right bytes.
      const f = repo.file('model-1.bin');
      const blob = path.join(gw.cacheDir, 'blobs', 'sha256', f.sha256.slice(0, 2), f.sha256);
      const fd = openSync(blob, 'r+');
      writeSync(fd, Buffer.from('garbage'), 0, 7, 1000);
      closeSync(fd);
      const verify = await cli(['cache', 'verify', ...base]);
      assert.equal(verify.code, 0, verify.stderr + verify.stdout);
      assert.match(verify.stdout, /verify [0-9a-f]{12} done: \d+\/\d+ blobs, .* 1 corrupt/);
      assert.ok(!existsSync(blob), 'corrupt blob left the serving path');
      assert.ok(readdirSync(path.join(gw.cacheDir, 'quarantine')).some((n) => n.endsWith(f.sha256)));
      const again = await requestHash(`${gw.url}${repo.resolvePath('model-1.bin')}`);
      assert.equal(again.headers['x-hubgate-cache'], 'miss');
      assert.equal(again.sha256, f.sha256);

      const rm = await cli(['cache', 'rm', 'org/warm', ...base]);
      assert.equal(rm.code, 0, rm.stderr);
      assert.match(rm.stdout, /removed [1-9]\d* blobs of model org\/warm/);
      const afterRm = await requestHash(`${gw.url}${repo.resolvePath('model-2.bin')}`);
      assert.equal(afterRm.headers['x-hubgate-cache'], 'miss');
      assert.equal(afterRm.sha256, repo.file('model-2.bin').sha256);

      const gc = await cli(['cache', 'gc', ...base]);
      assert.equal(gc.code, 0, gc.stderr);
      assert.match(gc.stdout, /gc [0-9a-f]{12} done: evicted 0 blobs/);

      const unreachable = await cli(['cache', 'stats', '--url', 'http://127.0.0.1:1', '--admin-key-file', keyFile]);
      assert.equal(unreachable.code, 2);
      assert.match(unreachable.stderr, /cannot reach the gateway's admin API/);
      const wrongKey = await cli(['cache', 'stats', '--url', gw.url], { HUBGATE_ADMIN_KEY: 'wrong-key-wrong-key-wrong-key' });
      assert.equal(wrongKey.code, 1);
    } finally {
      await gw.stop();
    }
  });
});
