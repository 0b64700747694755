// /metrics: parses as Prometheus text 0.0.4, and its counters agree with what the test did
// (requests by route and status, hits and misses, bytes served by source against the bytes the
// clients received, upstream bytes against the fake's transfers, fills, histograms); label sets are
// closed (random paths and repos add no series).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startFakeHub, randomContent } from '../fakehub/fakehub.mjs';
import { delta, request, requestHash, startGateway, waitForMetrics, withTimeout } from './helpers.mjs';

const KiB = 1024;
const MiB = 1024 * KiB;

// Strict checks on top of parsePrometheus: every sample belongs to a family with a TYPE line
// (histograms through _bucket/_sum/_count), counters end in _total, every histogram series has
// cumulative buckets ending in +Inf that equal its _count.
function checkExposition(m) {
  const familyOf = (name) => {
    if (m.types.has(name)) return name;
    const base = name.replace(/_(bucket|sum|count)$/, '');
    if (base !== name && m.types.get(base) === 'histogram') return base;
    return null;
  };
  for (const s of m.series) {
    const fam = familyOf(s.name);
    assert.ok(fam, `sample ${s.name} has no TYPE line`);
    const type = m.types.get(fam);
    if (type === 'counter') assert.match(s.name, /_total$/, `counter ${s.name} does not end in _total`);
    if (type === 'histogram') {
      assert.ok(s.name !== fam, `histogram ${fam} has a bare sample`);
      if (s.name.endsWith('_bucket')) assert.ok('le' in s.labels, `${s.name} without le`);
      else assert.ok(!('le' in s.labels), `${s.name} with le`);
    }
  }
  let histograms = 0;
  for (const [fam, type] of m.types) {
    if (type !== 'histogram') continue;
    const groups = new Map();
    for (const s of m.series) {
      if (s.name !== `${fam}_bucket`) continue;
      const { le, ...rest } = s.labels;
      const key = JSON.stringify(Object.entries(rest).sort());
      if (!groups.has(key)) groups.set(key, { labels: rest, buckets: [] });
      groups.get(key).buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
    }
    assert.ok(groups.size > 0, `histogram ${fam} has no buckets`);
    for (const { labels, buckets } of groups.values()) {
      histograms++;
      buckets.sort((a, b) => a[0] - b[0]);
      assert.equal(buckets[buckets.length - 1][0], Infinity, `${fam} ${JSON.stringify(labels)}: no +Inf bucket`);
      for (let i = 1; i < buckets.length; i++) {
        assert.ok(buckets[i][1] >= buckets[i - 1][1], `${fam} ${JSON.stringify(labels)}: buckets not cumulative at le=${buckets[i][0]}`);
      }
      assert.ok(m.has(`${fam}_sum`, labels), `${fam}_sum ${JSON.stringify(labels)} missing`);
      assert.ok(m.has(`${fam}_count`, labels), `${fam}_count ${JSON.stringify(labels)} missing`);
      assert.equal(m.get(`${fam}_count`, labels), buckets[buckets.length - 1][1], `${fam} ${JSON.stringify(labels)}: _count != +Inf bucket`);
    }
  }
  return histograms;
}

async function scrape(gw) {
  const r = await request(`${gw.url}/metrics`, { timeoutMs: 10000 });
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const m = await gw.metrics();
  checkExposition(m);
  return m;
}

describe('metrics', () => {
  let hub;
  let gw;
  let repo;

  before(async () => {
    hub = await startFakeHub({ xet: true });
    repo = hub.addRepo({
      id: 'org/metrics',
      files: [
        { path: 'a.bin', content: randomContent('metrics-a', 3 * MiB + 7), lfs: true },
        { path: 'b.bin', content: randomContent('metrics-b', 2 * MiB + 3), lfs: true },
      ],
    });
    gw = await startGateway({ upstream: hub.url });
  }, { timeout: 60000 });

  after(async () => {
    await gw?.stop();
    await hub?.close();
  }, { timeout: 30000 });

  const url = (path) => `${gw.url}${repo.resolvePath(path)}`;

  test('exposition parses and every family is typed, with the documented series', { timeout: 30000 }, async () => {
    const m = await scrape(gw);
    for (const [name, type] of [
      ['hubgate_requests_total', 'counter'],
      ['hubgate_request_duration_seconds', 'histogram'],
      ['hubgate_cold_ttfb_seconds', 'histogram'],
      ['hubgate_cache_hits_total', 'counter'],
      ['hubgate_cache_misses_total', 'counter'],
      ['hubgate_served_bytes_total', 'counter'],
      ['hubgate_upstream_body_bytes_total', 'counter'],
      ['hubgate_upstream_amplification', 'gauge'],
      ['hubgate_fill_started_total', 'counter'],
      ['hubgate_fill_joined_total', 'counter'],
      ['hubgate_fill_failed_total', 'counter'],
      ['hubgate_fills_in_flight', 'gauge'],
      ['hubgate_scan_verdicts_total', 'counter'],
      ['hubgate_upstream_errors_total', 'counter'],
      ['hubgate_upstream_backoff_seconds', 'gauge'],
      ['hubgate_upstream_throttled_total', 'counter'],
    ]) {
      assert.equal(m.types.get(name), type, `${name} TYPE`);
    }
    for (const source of ['cache', 'fill', 'pass_through']) {
      assert.ok(m.has('hubgate_served_bytes_total', { source }), `served bytes source=${source}`);
    }
    for (const kind of ['connect', 'dns', 'tls', 'timeout', 'reset', 'refused_address', 'status_5xx', 'status_429', 'other']) {
      assert.ok(m.has('hubgate_upstream_errors_total', { kind }), `upstream errors kind=${kind}`);
    }
    assert.equal(m.get('hubgate_upstream_backoff_seconds'), 0);
  });

  test('counters agree with a known sequence of downloads', { timeout: 120000 }, async () => {
    const a = repo.file('a.bin');
    const b = repo.file('b.bin');
    const a0 = hub.cdnBodyTransfers('a.bin');
    const b0 = hub.cdnBodyTransfers('b.bin');
    const m0 = await scrape(gw);

    // One cold download of A, two hits, one Range, one HEAD, one 404.
    const cold = await requestHash(url('a.bin'));
    assert.equal(cold.status, 200);
    assert.ok(cold.complete, cold.error?.message);
    assert.equal(cold.sha256, a.sha256);
    assert.equal(cold.headers['x-hubgate-cache'], 'miss');
    const hits = [await requestHash(url('a.bin')), await requestHash(url('a.bin'))];
    for (const h of hits) {
      assert.equal(h.headers['x-hubgate-cache'], 'hit');
      assert.equal(h.sha256, a.sha256);
    }
    const range = await request(url('a.bin'), { headers: { Range: 'bytes=1000-5095' } });
    assert.equal(range.status, 206);
    assert.equal(range.body.length, 4096);
    const head = await request(url('a.bin'), { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    const missing = await request(url('does-not-exist.bin'));
    assert.equal(missing.status, 404);

    // Two concurrent cold downloads of B: the second joins the first one's fill.
    const hold = hub.fault({ listener: 'cdn', path: 'b.bin' }, { pauseAt: MiB });
    let first;
    let second;
    try {
      first = requestHash(url('b.bin'));
      await withTimeout(hold.gate.reached, 20000, 'the CDN transfer of b.bin reaching 1 MiB');
      second = requestHash(url('b.bin'));
      await waitForMetrics(gw, (m) => delta(m, m0, 'hubgate_fill_joined_total') >= 1, {
        what: 'the second client joining',
        names: ['hubgate_fill_started_total', 'hubgate_fill_joined_total'],
      });
    } finally {
      hold.gate.release();
    }
    const bs = [await first, await second];
    for (const r of bs) {
      assert.equal(r.status, 200);
      assert.ok(r.complete, r.error?.message);
      assert.equal(r.sha256, b.sha256);
    }
    assert.deepEqual(bs.map((r) => r.headers['x-hubgate-cache']).sort(), ['join', 'miss']);

    // Requests are counted once their answer is written: wait for the last one to be observed.
    const RESOLVE_REQUESTS = 8;
    const m1 = await waitForMetrics(gw, (m) => delta(m, m0, 'hubgate_requests_total', { route: 'resolve' }) >= RESOLVE_REQUESTS, {
      what: 'all resolve requests counted',
      names: ['hubgate_requests_total'],
    });
    checkExposition(m1);

    const req = (status) => delta(m1, m0, 'hubgate_requests_total', { route: 'resolve', status: String(status) });
    assert.equal(req(200), 6, 'resolve 200 (cold, 2 hits, HEAD, 2 of B)');
    assert.equal(req(206), 1, 'resolve 206');
    assert.equal(req(404), 1, 'resolve 404');
    assert.equal(delta(m1, m0, 'hubgate_requests_total', { route: 'resolve' }), RESOLVE_REQUESTS, 'resolve requests in all');

    assert.equal(delta(m1, m0, 'hubgate_cache_hits_total'), 4, 'hits: 2 GET, Range, HEAD');
    assert.equal(delta(m1, m0, 'hubgate_cache_misses_total'), 3, 'misses: cold A, B miss, B join');

    const served = {
      cache: delta(m1, m0, 'hubgate_served_bytes_total', { source: 'cache' }),
      fill: delta(m1, m0, 'hubgate_served_bytes_total', { source: 'fill' }),
      pass_through: delta(m1, m0, 'hubgate_served_bytes_total', { source: 'pass_through' }),
    };
    const received = {
      cache: hits[0].length + hits[1].length + range.body.length,
      fill: cold.length + bs[0].length + bs[1].length,
      pass_through: 0,
    };
    assert.deepEqual(served, received, 'bytes served by source = bytes the clients received');

    assert.equal(hub.cdnBodyTransfers('a.bin') - a0, 1, 'CDN transfers of a.bin');
    assert.equal(hub.cdnBodyTransfers('b.bin') - b0, 1, 'CDN transfers of b.bin');
    assert.equal(delta(m1, m0, 'hubgate_upstream_body_bytes_total'), a.size + b.size, 'upstream body bytes');
    assert.equal(delta(m1, m0, 'hubgate_fill_started_total'), 2, 'fills started');
    assert.equal(delta(m1, m0, 'hubgate_fill_joined_total'), 1, 'fills joined');
    assert.equal(delta(m1, m0, 'hubgate_fill_failed_total'), 0, 'fills failed');
    assert.equal(delta(m1, m0, 'hubgate_fill_completed_total'), 2, 'fills completed');
    assert.equal(m1.get('hubgate_fills_in_flight'), 0, 'fills in flight');
    assert.equal(delta(m1, m0, 'hubgate_upstream_errors_total'), 0, 'upstream errors');

    const upstream = m1.get('hubgate_upstream_body_bytes_total');
    const servedAll = m1.sum('hubgate_served_bytes_total');
    const amp = m1.get('hubgate_upstream_amplification');
    assert.ok(servedAll > 0);
    assert.ok(Math.abs(amp - upstream / servedAll) < 1e-9, `amplification ${amp} vs ${upstream}/${servedAll}`);

    const durations = delta(m1, m0, 'hubgate_request_duration_seconds_count', { route: 'resolve' });
    assert.equal(durations, 8, 'request duration observations (resolve)');
    assert.ok(delta(m1, m0, 'hubgate_request_duration_seconds_sum', { route: 'resolve' }) > 0);
    assert.equal(delta(m1, m0, 'hubgate_cold_ttfb_seconds_count'), 3, 'cold TTFB observations (miss + join)');

    // The two fills were scanned once each; A's verdict is the one its hits carried.
    assert.equal(delta(m1, m0, 'hubgate_scan_verdicts_total'), 2, 'scans');
    const verdict = hits[0].headers['x-hubgate-scan'];
    assert.ok(verdict, 'hits carry X-Hubgate-Scan');
    assert.ok(delta(m1, m0, 'hubgate_scan_verdicts_total', { verdict }) >= 1, `scan verdict ${verdict} counted`);
  });

  test('cardinality: 300 requests to random paths and repos add no series', { timeout: 120000 }, async () => {
    const m0 = await scrape(gw);
    const rnd = () => randomBytes(6).toString('hex');
    const paths = [];
    for (let i = 0; i < 300; i++) {
      switch (i % 6) {
        case 0: paths.push(`/${rnd()}`); break;
        case 1: paths.push(`/org-${rnd()}/m-${rnd()}/resolve/main/${rnd()}.bin`); break;
        case 2: paths.push(`/api/models/org-${rnd()}/m-${rnd()}`); break;
        case 3: paths.push(`/datasets/${rnd()}/${rnd()}/resolve/${rnd()}/x?${rnd()}=1`); break;
        case 4: paths.push(`/api/${rnd()}/${rnd()}`); break;
        default: paths.push(`/org/metrics/resolve/main/%zz${rnd()}`); break;
      }
    }
    const statuses = new Set();
    for (let i = 0; i < paths.length; i += 10) {
      const batch = await Promise.all(paths.slice(i, i + 10).map((p) => request(`${gw.url}${p}`, { timeoutMs: 20000 })));
      for (const r of batch) statuses.add(r.status);
    }
    const m1 = await waitForMetrics(gw, (m) => m.sum('hubgate_requests_total') - m0.sum('hubgate_requests_total') >= 301, {
      what: 'the 300 requests counted',
      names: ['hubgate_requests_total'],
    });
    const keys = (m) => [...m.samples.keys()].sort();
    assert.deepEqual(keys(m1), keys(m0), `new series after random requests (statuses seen: ${[...statuses].join(',')})`);
  });

  // Last: the back-off it causes lasts beyond the test.
  test('upstream 5xx and 429: errors by kind, throttled count, back-off gauge', { timeout: 60000 }, async () => {
    const cold = hub.addRepo({ id: 'org/metrics-cold', files: [{ path: 'c.txt', content: 'c\n' }] });
    const m0 = await scrape(gw);
    const e = hub.fault({ listener: 'hub', urlIncludes: `/api/models/${cold.id}` }, { status: 500, times: 1 });
    const r5 = await request(`${gw.url}/api/models/${cold.id}`);
    assert.equal(e.hits, 1, 'the 500 fault fired');
    assert.ok(r5.status >= 500, `answer to an upstream 500: ${r5.status}`);
    const m1 = await scrape(gw);
    assert.equal(delta(m1, m0, 'hubgate_upstream_errors_total', { kind: 'status_5xx' }), 1, 'status_5xx');
    assert.equal(delta(m1, m0, 'hubgate_upstream_errors_total'), 1, 'upstream errors in all');

    const SECONDS = 30;
    const f = hub.rateLimit({}, { seconds: SECONDS });
    try {
      const r = await request(`${gw.url}/api/models/${cold.id}/revision/main`);
      assert.equal(r.status, 429);
    } finally {
      f.remove();
    }
    const m2 = await scrape(gw);
    assert.equal(delta(m2, m1, 'hubgate_upstream_throttled_total'), 1, 'throttled');
    assert.equal(delta(m2, m1, 'hubgate_upstream_errors_total', { kind: 'status_429' }), 1, 'status_429');
    const left = m2.get('hubgate_upstream_backoff_seconds');
    assert.ok(left > 0 && left <= SECONDS, `back-off seconds left: ${left}`);
  });
});
