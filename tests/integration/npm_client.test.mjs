// The unmodified npm @huggingface/hub client pointed at the gateway (hubUrl): fileDownloadInfo and
// downloadFile return exactly the fake Hub's bytes and identities, cold and warm, for regular and
// LFS files at a branch and a commit, for models, datasets and spaces. Every response the client
// sees goes through checkedFetch (no Xet hint allowed), with the fake's Xet switch on.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { downloadFile, fileDownloadInfo } from '@huggingface/hub';
import { startFakeHub, randomContent } from '../fakehub/fakehub.mjs';
import { checkedFetch, delta, sha256, startGateway } from './helpers.mjs';

const T = { timeout: 60000 };
const TYPES = ['model', 'dataset', 'space'];

describe('npm @huggingface/hub client', () => {
  let hub;
  let gw;
  const repos = {};

  before(async () => {
    hub = await startFakeHub({ xet: true });
    for (const type of TYPES) {
      repos[type] = hub.addRepo({
        type,
        id: `org/npm-${type}`,
        files: [
          { path: 'config.json', content: Buffer.from(JSON.stringify({ type, hidden: 128 }) + '\n') },
          { path: 'tokenizer.txt', content: randomContent(`npm-${type}-tok`, 20000) },
          { path: 'model.safetensors', content: randomContent(`npm-${type}-model`, 3 * 1024 * 1024 + 11), lfs: true },
          { path: 'small-lfs.bin', content: randomContent(`npm-${type}-small`, 4096), lfs: true },
        ],
      });
    }
    gw = await startGateway({ upstream: hub.url });
  }, { timeout: 60000 });

  after(async () => {
    await gw?.stop();
    await hub?.close();
  }, { timeout: 30000 });

  for (const type of TYPES) {
    test(`${type}: fileDownloadInfo and downloadFile, cold and warm`, T, async () => {
      const repo = repos[type];
      const designation = { type, name: repo.id };
      const cases = [
        ['config.json', 'main'],
        ['tokenizer.txt', repo.commit],
        ['model.safetensors', 'main'],
        ['small-lfs.bin', repo.commit],
      ];
      for (const [path, coldRev] of cases) {
        const f = repo.file(path);
        const what = `${type} ${path}`;
        const m0 = await gw.metrics();
        const info = await fileDownloadInfo({ repo: designation, path, revision: coldRev, hubUrl: gw.url, fetch: checkedFetch });
        assert.ok(info, `${what}: fileDownloadInfo returned null`);
        assert.equal(info.size, f.size, `${what}: size`);
        assert.equal(info.etag, f.etag, `${what}: etag`);
        assert.equal(info.xet, undefined, `${what}: client saw Xet info`);
        assert.ok(info.url.startsWith(gw.url + '/'), `${what}: download URL ${info.url} leaves the gateway`);

        const blob = await downloadFile({ repo: designation, path, revision: coldRev, hubUrl: gw.url, fetch: checkedFetch });
        const bytes = Buffer.from(await blob.arrayBuffer());
        assert.equal(bytes.length, f.size, `${what}: cold length`);
        assert.equal(sha256(bytes), f.sha256, `${what}: cold bytes`);
        const m1 = await gw.metrics();
        assert.ok(delta(m1, m0, 'hubgate_cache_misses_total') >= 1, `${what}: no cache miss recorded for the cold download`);

        const cdn1 = hub.cdnBodyTransfers(path, { repo: repo.key });
        const hubGets1 = hub.countRequests({ listener: 'hub', method: 'GET', path, repo: repo.key });
        for (const rev of ['main', repo.commit]) {
          const info2 = await fileDownloadInfo({ repo: designation, path, revision: rev, hubUrl: gw.url, fetch: checkedFetch });
          assert.equal(info2.etag, f.etag, `${what} warm @${rev}: etag`);
          assert.equal(info2.size, f.size, `${what} warm @${rev}: size`);
          const b2 = await downloadFile({ repo: designation, path, revision: rev, hubUrl: gw.url, fetch: checkedFetch });
          assert.equal(sha256(Buffer.from(await b2.arrayBuffer())), f.sha256, `${what} warm @${rev}: bytes`);
        }
        const m2 = await gw.metrics();
        assert.equal(hub.cdnBodyTransfers(path, { repo: repo.key }), cdn1, `${what}: warm download caused a CDN body transfer`);
        assert.equal(hub.countRequests({ listener: 'hub', method: 'GET', path, repo: repo.key }), hubGets1, `${what}: warm download sent a GET to the Hub`);
        assert.ok(delta(m2, m1, 'hubgate_cache_hits_total') >= 2, `${what}: cache_hits did not rise on warm downloads`);
        assert.equal(delta(m2, m1, 'hubgate_upstream_body_bytes_total'), 0, `${what}: upstream body bytes on warm downloads`);
      }
      // A missing file is null for the client (404 + EntryNotFound passed through).
      const missing = await fileDownloadInfo({ repo: designation, path: 'nope.bin', hubUrl: gw.url, fetch: checkedFetch });
      assert.equal(missing, null);
      // The client sends the Xet fileinfo Accept; the gateway must not forward it.
      const leaked = hub.findRequests({ where: (q) => /vnd\.xet-fileinfo/.test(q.headers.accept ?? '') });
      assert.equal(leaked.length, 0, 'Accept: application/vnd.xet-fileinfo+json reached upstream');
    });
  }
});
