// Liveness and readiness: /health answers while the process runs; /ready only while the cache
// index answers and the cache directory can take a new file (a load balancer stops sending
// downloads to a gateway whose disk went away).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { startFakeHub } from '../fakehub/fakehub.mjs';
import { curl, startGateway } from './helpers.mjs';

const T = { timeout: 30000 };

describe('health', () => {
  let hub;
  let gw;
  before(async () => {
    hub = await startFakeHub({});
    gw = await startGateway({ upstream: hub.url });
  }, T);
  after(async () => {
    await gw?.stop();
    await hub?.close();
  });

  test('/health is ok; /ready follows the cache directory', T, async () => {
    const health = await curl(`${gw.url}/health`);
    assert.equal(health.status, 200);
    assert.equal(health.body.toString(), 'ok\n');
    const ready = await curl(`${gw.url}/ready`);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.toString(), 'ready\n');
    // The temp area disappears (a lost mount, an operator's rm): not ready, and the reason says so.
    const tmp = path.join(gw.cacheDir, 'tmp');
    await rename(tmp, `${tmp}.gone`);
    try {
      const down = await curl(`${gw.url}/ready`);
      assert.equal(down.status, 503);
      assert.equal(down.headers['x-error-code'], 'NotReady');
      assert.match(down.headers['x-error-message'], /cache directory/);
      assert.equal((await curl(`${gw.url}/health`)).status, 200, 'liveness does not depend on the disk');
    } finally {
      await rename(`${tmp}.gone`, tmp).catch(() => mkdir(tmp, { recursive: true }));
    }
    assert.equal((await curl(`${gw.url}/ready`)).status, 200);
  });
});
