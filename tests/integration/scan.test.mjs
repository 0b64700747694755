// Supply-chain scanning through the gateway (docs/scanning.md): a malicious checkpoint fetched
// through the gateway never arrives complete, answers 403 ScanBlocked on the next request and
// leaves an audit line; a clean file is served with its verdict header; audit mode serves but
// records "would-block"; per-repo overrides; repo proxy policy; a changed denylist makes stored
// verdicts stale and the blob is rescanned.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeHub } from '../fakehub/fakehub.mjs';
import { spawnSync } from 'node:child_process';
import { curl, gatewayBinary, makeTempDir, request, requestHash, sha256, startGateway, upstreamMark, upstreamSince, waitForMetrics } from './helpers.mjs';

const T = { timeout: 60000 };

// A protocol-2 pickle that carries 300 000 bytes of data and then calls posix.system('id'):
// what `torch.load` on an untrusted checkpoint would run.
function maliciousPickle() {
  const data = Buffer.alloc(300000, 0x41);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(data.length);
  const arg = Buffer.from('id');
  const alen = Buffer.alloc(4);
  alen.writeUInt32LE(arg.length);
  return Buffer.concat([
    Buffer.from([0x80, 0x02]),
    Buffer.from('B'), len, data, Buffer.from('0'), // BINBYTES ... POP
    Buffer.from('cposix\nsystem\n'),
    Buffer.from('X'), alen, arg,
    Buffer.from([0x85]), Buffer.from('R.'),
  ]);
}

// A pickle that only constructs an unknown class: not malicious, but not allowlisted either.
function suspiciousPickle() {
  return Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from('cmytraining\nTrainerState\n)R.')]);
}

// A valid safetensors file: one F32 tensor of 256 x 256.
function cleanSafetensors() {
  const n = 256 * 256 * 4;
  let header = JSON.stringify({ w: { dtype: 'F32', shape: [256, 256], data_offsets: [0, n] }, __metadata__: { format: 'pt' } });
  while ((header.length + 8) % 8 !== 0) header += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const body = Buffer.alloc(n);
  for (let i = 0; i < n; i++) body[i] = (i * 7) & 0xff;
  return Buffer.concat([len, Buffer.from(header), body]);
}

// PyTorch zip checkpoints from the scanner's committed samples (tests/scan_samples/gen_containers.py).
const SAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../scan_samples/containers');

async function auditLines(gw) {
  const text = await readFile(path.join(gw.cacheDir, 'audit.jsonl'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

// The audit line for the GET of `file` is written once the answer is done: poll briefly.
async function auditFor(gw, file, pred = () => true) {
  for (let i = 0; i < 100; i++) {
    const hit = (await auditLines(gw)).filter((l) => l.path === file && pred(l));
    if (hit.length) return hit;
    await new Promise((r) => setTimeout(r, 50));
  }
  return [];
}

describe('scan', () => {
  let hub;
  const evil = maliciousPickle();
  const odd = suspiciousPickle();
  const clean = cleanSafetensors();

  let torchEvil;
  let torchClean;

  before(async () => {
    torchEvil = await readFile(path.join(SAMPLES, 'torch_payload.pt'));
    torchClean = await readFile(path.join(SAMPLES, 'torch_benign.pt'));
    hub = await startFakeHub({});
    for (const id of ['org/ckpt', 'org/trusted-ckpt', 'blocked/ckpt', 'org/deny', 'org/noncommercial']) {
      hub.addRepo({
        id,
        cardData: { license: id === 'org/noncommercial' ? 'cc-by-nc-4.0' : 'apache-2.0' },
        files: [
          { path: 'pytorch_model.bin', content: evil, lfs: true },
          { path: 'trainer_state.pt', content: odd, lfs: true },
          { path: 'model.safetensors', content: clean, lfs: true },
          { path: 'README.md', content: '# a model card\n' },
          { path: 'ckpt/evil.pt', content: torchEvil, lfs: true },
          { path: 'ckpt/good.pt', content: torchClean, lfs: true },
        ],
      });
    }
  }, T);

  after(async () => {
    await hub?.close();
  });

  test('a malicious checkpoint never arrives complete, then 403 ScanBlocked, with audit lines', T, async () => {
    const gw = await startGateway({ upstream: hub.url });
    try {
      const url = `${gw.url}/org/ckpt/resolve/main/pytorch_model.bin`;
      // Cold: the bytes stream while the fill runs, but the final byte is held for the verdict
      // and the connection is cut when the policy blocks the file.
      const first = await requestHash(url);
      assert.equal(first.status, 200);
      assert.ok(first.length < evil.length, `received ${first.length} of ${evil.length} bytes: the file arrived complete`);
      assert.notEqual(first.sha256, sha256(evil));
      // Next request: the stored verdict answers 403 before any byte.
      const again = await curl(url);
      assert.equal(again.status, 403);
      assert.equal(again.headers['x-error-code'], 'ScanBlocked');
      assert.match(again.headers['x-error-message'], /malicious/);
      assert.match(again.headers['x-error-message'], /system/);
      assert.equal(again.headers['x-hubgate-scan'], 'malicious');
      assert.ok(again.body.length < 4096 && !again.body.includes(evil.subarray(100, 200)));
      // Ranges of a blocked file are refused too.
      const ranged = await curl(url, { headers: { Range: 'bytes=0-99' } });
      assert.equal(ranged.status, 403);
      // Audit: the cut fill and the refusal, with the verdict, decision and content digest.
      const lines = await auditFor(gw, 'pytorch_model.bin', (l) => l.status === 403);
      assert.ok(lines.length >= 1, 'no audit line for the refusal');
      const refused = lines[0];
      assert.equal(refused.repo, 'org/ckpt');
      assert.equal(refused.repo_type, 'model');
      assert.equal(refused.verdict, 'malicious');
      assert.equal(refused.decision, 'block');
      assert.equal(refused.content, `sha256:${sha256(evil)}`);
      assert.equal(refused.cache, 'hit');
      assert.equal(refused.caller, 'anon');
      assert.match(refused.commit, /^[0-9a-f]{40}$/);
      const cut = await auditFor(gw, 'pytorch_model.bin', (l) => l.status === 200);
      assert.equal(cut.length, 1);
      assert.equal(cut[0].decision, 'block');
      assert.ok(cut[0].bytes < evil.length);
      // Metrics count the decisions by verdict.
      await waitForMetrics(gw, (m) => m.get('hubgate_file_decisions_total', { verdict: 'malicious', decision: 'block' }) >= 3, {
        what: 'hubgate_file_decisions_total{verdict="malicious",decision="block"} counts the cut fill and both refusals',
      });
      // Without an admin key the verdict is not exposed (the admin view is tested below).
      const hidden = await request(`${gw.url}/admin/scan/${sha256(evil)}`);
      assert.equal(hidden.status, 403);
      assert.equal(hidden.headers['x-error-code'], 'AdminDisabled');
    } finally {
      await gw.stop();
    }
  });

  test('PyTorch zip checkpoints: the payload one is cut then refused, the benign one is served', T, async () => {
    const gw = await startGateway({ upstream: hub.url });
    try {
      const url = `${gw.url}/org/ckpt/resolve/main/ckpt/evil.pt`;
      const first = await requestHash(url);
      assert.ok(first.length < torchEvil.length, 'the malicious checkpoint arrived complete');
      const again = await curl(url);
      assert.equal(again.status, 403);
      assert.equal(again.headers['x-error-code'], 'ScanBlocked');
      assert.match(again.headers['x-error-message'], /data\.pkl/);
      const good = await requestHash(`${gw.url}/org/ckpt/resolve/main/ckpt/good.pt`);
      assert.equal(good.length, torchClean.length);
      assert.equal(good.sha256, sha256(torchClean));
      const hit = await curl(`${gw.url}/org/ckpt/resolve/main/ckpt/good.pt`);
      assert.equal(hit.headers['x-hubgate-scan'], 'clean');
      const lines = await auditFor(gw, 'ckpt/evil.pt', (l) => l.status === 403);
      assert.equal(lines[0].verdict, 'malicious');
    } finally {
      await gw.stop();
    }
  });

  test('a clean file is served whole, then from cache with X-Hubgate-Scan: clean; admin shows the verdict', T, async () => {
    const gw = await startGateway({ upstream: hub.url, env: { HUBGATE_ADMIN_KEY: 'admin-key-for-scan-tests' } });
    try {
      const url = `${gw.url}/org/ckpt/resolve/main/model.safetensors`;
      const first = await requestHash(url);
      assert.equal(first.status, 200);
      assert.equal(first.length, clean.length);
      assert.equal(first.sha256, sha256(clean));
      const hit = await curl(url);
      assert.equal(hit.status, 200);
      assert.equal(hit.headers['x-hubgate-cache'], 'hit');
      assert.equal(hit.headers['x-hubgate-scan'], 'clean');
      assert.equal(sha256(hit.body), sha256(clean));
      const lines = await auditFor(gw, 'model.safetensors', (l) => l.cache === 'hit');
      assert.equal(lines[0].verdict, 'clean');
      assert.equal(lines[0].decision, 'allow');
      assert.equal(lines[0].bytes, clean.length);
      const v = await curl(`${gw.url}/admin/scan/${sha256(clean)}`, { headers: { Authorization: 'Bearer admin-key-for-scan-tests' } });
      assert.equal(v.status, 200);
      const rec = JSON.parse(v.body.toString());
      assert.equal(rec.verdict, 'clean');
      assert.equal(rec.format, 'safetensors');
      assert.match(rec.scanner_version, /^scanner=/);
      const noKey = await curl(`${gw.url}/admin/scan/${sha256(clean)}`);
      assert.equal(noKey.status, 401);
      // A regular (git) file is scanned too and served.
      const readme = await curl(`${gw.url}/org/ckpt/resolve/main/README.md`);
      assert.equal(readme.status, 200);
      assert.equal(readme.body.toString(), '# a model card\n');
    } finally {
      await gw.stop();
    }
  });

  test('audit mode serves a malicious file whole but records would-block', T, async () => {
    const gw = await startGateway({ upstream: hub.url, env: { HUBGATE_SCAN_MODE: 'audit' } });
    try {
      const url = `${gw.url}/org/ckpt/resolve/main/pytorch_model.bin`;
      const first = await requestHash(url);
      assert.equal(first.length, evil.length);
      const hit = await curl(url);
      assert.equal(hit.status, 200);
      assert.equal(hit.headers['x-hubgate-scan'], 'malicious');
      assert.match(hit.headers['x-hubgate-scan-summary'], /system/);
      const lines = await auditFor(gw, 'pytorch_model.bin', (l) => l.cache === 'hit');
      assert.equal(lines[0].decision, 'would-block');
    } finally {
      await gw.stop();
    }
  });

  test('suspicious is blocked by default, allowed for a repo with an override (recorded), warn by config', T, async () => {
    const gw = await startGateway({ upstream: hub.url, env: { HUBGATE_POLICY_OVERRIDES: 'org/trusted-*=*' } });
    try {
      const plain = await requestHash(`${gw.url}/org/ckpt/resolve/main/trainer_state.pt`);
      assert.ok(plain.length < odd.length, 'a suspicious file arrived complete under the default policy');
      const blocked = await curl(`${gw.url}/org/ckpt/resolve/main/trainer_state.pt`);
      assert.equal(blocked.status, 403);
      assert.equal(blocked.headers['x-hubgate-scan'], 'suspicious');
      // Same content, a repo the operator vouched for: served, and the override is audited.
      const trusted = await curl(`${gw.url}/org/trusted-ckpt/resolve/main/trainer_state.pt`);
      assert.equal(trusted.status, 200);
      assert.equal(sha256(trusted.body), sha256(odd));
      const lines = await auditFor(gw, 'trainer_state.pt', (l) => l.repo === 'org/trusted-ckpt');
      assert.equal(lines[0].decision, 'allow');
      assert.ok(lines[0].overridden.length >= 1, 'override not recorded');
    } finally {
      await gw.stop();
    }
    const warn = await startGateway({ upstream: hub.url, env: { HUBGATE_SCAN_ON_SUSPICIOUS: 'warn' } });
    try {
      const r = await requestHash(`${warn.url}/org/ckpt/resolve/main/trainer_state.pt`);
      assert.equal(r.length, odd.length);
      const hit = await curl(`${warn.url}/org/ckpt/resolve/main/trainer_state.pt`);
      assert.equal(hit.status, 200);
      assert.equal(hit.headers['x-hubgate-scan'], 'suspicious');
    } finally {
      await warn.stop();
    }
  });

  test('repo policy: a denied repo is refused before the Hub is asked', T, async () => {
    const gw = await startGateway({ upstream: hub.url, env: { HUBGATE_POLICY_PROXY_DENY: 'blocked/*' } });
    try {
      const mark = upstreamMark(hub);
      const r = await curl(`${gw.url}/blocked/ckpt/resolve/main/model.safetensors`);
      assert.equal(r.status, 403);
      assert.equal(r.headers['x-error-code'], 'RepoBlockedByPolicy');
      assert.equal(upstreamSince(hub, mark).filter((q) => q.path.includes('blocked/ckpt')).length, 0);
      const ok = await curl(`${gw.url}/org/ckpt/resolve/main/model.safetensors`);
      assert.equal(ok.status, 200);
    } finally {
      await gw.stop();
    }
  });

  test('license allowlist: a repo whose card license is not listed is refused', T, async () => {
    const gw = await startGateway({ upstream: hub.url, env: { HUBGATE_POLICY_LICENSE_ALLOW: 'apache-2.0,mit' } });
    try {
      const nc = await curl(`${gw.url}/org/noncommercial/resolve/main/model.safetensors`);
      assert.equal(nc.status, 403);
      assert.equal(nc.headers['x-error-code'], 'LicenseNotAllowed');
      assert.match(nc.headers['x-error-message'], /cc-by-nc-4\.0/);
      assert.ok(!nc.body.includes(clean.subarray(1000, 1100)));
      const ok = await curl(`${gw.url}/org/ckpt/resolve/main/model.safetensors`);
      assert.equal(ok.status, 200);
      assert.equal(sha256(ok.body), sha256(clean));
      const lines = await auditFor(gw, 'model.safetensors', (l) => l.repo === 'org/noncommercial');
      assert.equal(lines[0].decision, 'block');
      assert.match(lines[0].reason, /license/);
    } finally {
      await gw.stop();
    }
  });

  test('cache policy: content of a repo that must not stay cached is served, then dropped', T, async () => {
    const gw = await startGateway({ upstream: hub.url, env: { HUBGATE_POLICY_CACHE_DENY: 'org/deny' } });
    try {
      const digest = sha256(clean);
      const blob = path.join(gw.cacheDir, 'blobs', 'sha256', digest.slice(0, 2), digest);
      const r = await requestHash(`${gw.url}/org/deny/resolve/main/model.safetensors`);
      assert.equal(r.sha256, digest);
      // Dropped once the answer is done (polled, bounded).
      let gone = false;
      for (let i = 0; i < 100 && !gone; i++) {
        gone = !(await readFile(blob).then(() => true, () => false));
        if (!gone) await new Promise((res) => setTimeout(res, 50));
      }
      assert.ok(gone, `blob ${blob} still cached`);
      const again = await curl(`${gw.url}/org/deny/resolve/main/model.safetensors`);
      assert.equal(again.status, 200);
      assert.notEqual(again.headers['x-hubgate-cache'], 'hit');
      assert.equal(sha256(again.body), digest);
      // Another repo's copy of the same content is kept.
      await requestHash(`${gw.url}/org/ckpt/resolve/main/model.safetensors`);
      const kept = await curl(`${gw.url}/org/ckpt/resolve/main/model.safetensors`);
      assert.equal(kept.headers['x-hubgate-cache'], 'hit');
    } finally {
      await gw.stop();
    }
  });

  test('a new denylist makes stored verdicts stale: the cached blob is rescanned and refused', T, async () => {
    const cacheDir = await makeTempDir('hubgate-scan-');
    const first = await startGateway({ upstream: hub.url, cacheDir });
    const url = (gw) => `${gw.url}/org/deny/resolve/main/model.safetensors`;
    try {
      const r = await curl(url(first));
      assert.equal(r.status, 200);
      assert.equal(sha256(r.body), sha256(clean));
    } finally {
      await first.stop({ keepCache: true });
    }
    const denylist = path.join(cacheDir, 'denylist.txt');
    await writeFile(denylist, `# test feed\n${sha256(clean)} known-bad-weights\n`);
    const second = await startGateway({ upstream: hub.url, cacheDir, env: { HUBGATE_SCAN_DENYLIST: denylist } });
    try {
      const r = await curl(url(second));
      assert.equal(r.status, 403);
      assert.equal(r.headers['x-error-code'], 'ScanBlocked');
      assert.match(r.headers['x-error-message'], /known-bad-weights/);
    } finally {
      await second.stop();
    }
  });
});

describe('hubgate scan (no gateway)', () => {
  test('files and directories, --json, exit status 0 / 1 / 2', T, async () => {
    const dir = await makeTempDir('hubgate-scan-cli-');
    await writeFile(path.join(dir, 'model.safetensors'), cleanSafetensors());
    const cleanOnly = spawnSync(gatewayBinary(), ['scan', '--json', path.join(dir, 'model.safetensors')], { encoding: 'utf8' });
    assert.equal(cleanOnly.status, 0, cleanOnly.stderr);
    const one = JSON.parse(cleanOnly.stdout.trim());
    assert.deepEqual([one.verdict, one.format, one.findings.length], ['clean', 'safetensors', 0]);
    // A pickle named like weights: judged by content, not by name.
    await writeFile(path.join(dir, 'weights.safetensors'), maliciousPickle());
    const all = spawnSync(gatewayBinary(), ['scan', '--json', dir], { encoding: 'utf8' });
    assert.equal(all.status, 1, all.stderr);
    const rows = all.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rows.length, 2);
    const bad = rows.find((r) => r.path.endsWith('weights.safetensors'));
    assert.equal(bad.verdict, 'malicious');
    assert.equal(bad.format, 'pickle');
    assert.ok(bad.findings.some((f) => /system/.test(f.message) && f.severity === 'malicious'));
    const usage = spawnSync(gatewayBinary(), ['scan', path.join(dir, 'does-not-exist')], { encoding: 'utf8' });
    assert.equal(usage.status, 2);
    const human = spawnSync(gatewayBinary(), ['scan', path.join(dir, 'weights.safetensors')], { encoding: 'utf8' });
    assert.equal(human.status, 1);
    assert.match(human.stdout, /malicious \(pickle\)/);
  });
});
