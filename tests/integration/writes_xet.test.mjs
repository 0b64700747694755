// The Xet upload token route is a write even though clients call it with GET
// (docs/hub-compatibility.md lists `…/xet-write-token/{rev}` among the writes): with the default
// `--writes deny` it gets 403 WritesDisabled and never reaches upstream.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeHub } from '../fakehub/fakehub.mjs';
import { request, startGateway, upstreamMark, upstreamSince } from './helpers.mjs';

const T = { timeout: 30000 };

describe('xet-write-token with writes denied', () => {
  let hub;
  let gw;

  before(async () => {
    hub = await startFakeHub({ xet: true });
    hub.addToken('hf_writer', { name: 'writer', write: true });
    for (const type of ['model', 'dataset', 'space']) hub.addRepo({ type, id: `org/xw-${type}`, files: [{ path: 'a.txt', content: 'a\n' }] });
    gw = await startGateway({ upstream: hub.url });
  }, { timeout: 60000 });

  after(async () => {
    await gw?.stop();
    await hub?.close();
  }, { timeout: 30000 });

  test('GET and POST xet-write-token: 403 WritesDisabled, upstream never asked', T, async () => {
    const mark = upstreamMark(hub);
    for (const type of ['model', 'dataset', 'space']) {
      for (const method of ['GET', 'POST']) {
        const u = `/api/${type}s/org/xw-${type}/xet-write-token/main`;
        const r = await request(`${gw.url}${u}`, { method, headers: { Authorization: 'Bearer hf_writer' } });
        assert.equal(r.status, 403, `${method} ${u}: ${r.status}`);
        assert.equal(r.headers['x-error-code'], 'WritesDisabled', `${method} ${u}`);
      }
    }
    assert.deepEqual(upstreamSince(hub, mark).map((q) => `${q.method} ${q.url}`), [], 'xet-write-token reached upstream');
  });
});
