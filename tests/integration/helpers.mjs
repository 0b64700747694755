// Shared helpers for hubgate's integration tests: start/stop the gateway binary, talk to it with
// fetch, curl and raw sockets (every answer is checked for leaked Xet hints), parse /metrics.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import http from 'node:http';
import os from 'node:os';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export function sha256(buf) {
  return createHash('sha256').update(buf).digest('hex');
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Rejects with a clear message when `promise` does not settle within `ms`.
export async function withTimeout(promise, ms, what = 'operation') {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout: ${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, t]);
  } finally {
    clearTimeout(timer);
  }
}

// Temp dirs made here are removed when the process exits, even if a test did not get to it.
const tempDirs = new Set();
export async function makeTempDir(prefix = 'hubgate-test-') {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

// Environment without any proxy variable (any case), so nothing leaves loopback.
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(http|https|all|no|ftp)_proxy$/i.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

// ------------------------------------------------------------------------------------------
// Xet hint detection: applied to every gateway answer by the wrappers below.

const XET_RELS = new Set(['xet-auth', 'xet-reconstruction-info']);

function headerEntries(headers) {
  if (!headers) return [];
  if (Array.isArray(headers)) return headers;
  if (typeof headers.entries === 'function' && !(headers instanceof Map)) return [...headers.entries()];
  if (headers instanceof Map) return [...headers.entries()];
  return Object.entries(headers);
}

// Relations named in a Link header value.
export function linkRels(value) {
  const rels = [];
  for (const m of String(value).matchAll(/rel\s*=\s*("([^"]*)"|([^\s;,]+))/gi)) {
    for (const r of (m[2] ?? m[3]).split(/\s+/)) if (r) rels.push(r.toLowerCase());
  }
  return rels;
}

// Throws an AssertionError if `headers` (Headers, Map or object) carry any Xet hint.
export function assertNoXetHints(headers, where = 'response') {
  for (const [k, v] of headerEntries(headers)) {
    const name = k.toLowerCase();
    const values = Array.isArray(v) ? v : [v];
    assert.ok(!name.startsWith('x-xet-'), `${where}: Xet header leaked: ${k}: ${v}`);
    if (name === 'link') {
      for (const val of values) {
        const bad = linkRels(val).filter((r) => XET_RELS.has(r));
        assert.equal(bad.length, 0, `${where}: Xet Link relation leaked: ${val}`);
      }
    }
    if (name === 'content-type') {
      for (const val of values) {
        assert.ok(!/application\/vnd\.xet-fileinfo\+json/i.test(val), `${where}: Xet content type leaked: ${val}`);
      }
    }
  }
}

// Paths ($.a[3].b) of every object key starting with "xet" (any case) in a parsed JSON value.
export function xetKeys(value, where = '$', out = []) {
  if (Array.isArray(value)) value.forEach((v, i) => xetKeys(v, `${where}[${i}]`, out));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (/^xet/i.test(k)) out.push(`${where}.${k}`);
      xetKeys(v, `${where}.${k}`, out);
    }
  }
  return out;
}

function headerValue(headers, name) {
  for (const [k, v] of headerEntries(headers)) if (k.toLowerCase() === name) return Array.isArray(v) ? v.join(', ') : String(v);
  return undefined;
}

// Throws if a JSON answer (by Content-Type; gzip bodies are inflated) has any key starting with
// "xet". Non-JSON answers and bodies that do not parse are left alone.
export function assertNoXetJson(body, headers, where = 'response') {
  if (!/json/i.test(headerValue(headers, 'content-type') ?? '')) return;
  let buf = Buffer.isBuffer(body) ? body : Buffer.from(String(body));
  if (/gzip/i.test(headerValue(headers, 'content-encoding') ?? '') && buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch {
      return;
    }
  }
  let json;
  try {
    json = JSON.parse(buf.toString('utf8'));
  } catch {
    return;
  }
  const keys = xetKeys(json);
  assert.equal(keys.length, 0, `${where}: Xet field(s) in JSON body: ${keys.slice(0, 5).join(', ')}`);
}

// ------------------------------------------------------------------------------------------
// HTTP clients (all check for Xet hints in headers and JSON bodies).

// fetch wrapper for the npm client (`fetch:` option): follows redirects like the client would
// and checks every answer.
export async function checkedFetch(input, init) {
  const resp = await fetch(input, init);
  const where = `fetch ${init?.method ?? 'GET'} ${input}`;
  assertNoXetHints(resp.headers, where);
  if (/json/i.test(resp.headers.get('content-type') ?? '') && init?.method !== 'HEAD') {
    // fetch has already inflated a gzip body; check a copy, hand the original to the caller.
    const text = await resp.clone().text();
    assertNoXetJson(text, { 'content-type': resp.headers.get('content-type') }, where);
  }
  return resp;
}

// One request with node's http module: {status, headers (lowercase object), body: Buffer,
// rawHeaders}. Never follows redirects. `onFirstByte(t)` is called when the first body byte
// arrives. Rejects on connection errors with err.partial = bytes received so far.
export function request(url, { method = 'GET', headers = {}, timeoutMs = 30000, body, onFirstByte, onData, signal, checkXet = true } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method,
        headers,
        agent: false,
        signal,
      },
      (res) => {
        try {
          if (checkXet) assertNoXetHints(res.headers, `${method} ${u.pathname}`);
        } catch (e) {
          clearTimeout(timer);
          res.destroy();
          reject(e);
          return;
        }
        const chunks = [];
        let n = 0;
        res.on('data', (c) => {
          if (n === 0 && onFirstByte) onFirstByte(performance.now());
          n += c.length;
          chunks.push(c);
          onData?.(c, n);
        });
        res.on('end', () => {
          clearTimeout(timer);
          const body = Buffer.concat(chunks);
          try {
            if (checkXet) assertNoXetJson(body, res.headers, `${method} ${u.pathname}`);
          } catch (e) {
            reject(e);
            return;
          }
          resolve({ status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, body, complete: res.complete });
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          err.partial = Buffer.concat(chunks);
          err.status = res.statusCode;
          err.headers = res.headers;
          reject(err);
        });
        res.on('aborted', () => {});
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`request timeout after ${timeoutMs} ms: ${method} ${url}`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    if (body) req.end(body);
    else req.end();
  });
}

// Runs curl: {code (exit status), status, headers (lowercase -> string; repeated values joined
// with ", "), headerList ([name, value] pairs), body: Buffer, stderr}. HEAD via {method:'HEAD'}.
export async function curl(url, { method = 'GET', headers = {}, timeoutMs = 60000, args = [], checkXet = true } = {}) {
  const dir = await makeTempDir('hubgate-curl-');
  const hdrFile = path.join(dir, 'headers');
  const argv = ['-sS', '--noproxy', '*', '--path-as-is', '-g', '-D', hdrFile, '--max-time', String(Math.ceil(timeoutMs / 1000))];
  if (method === 'HEAD') argv.push('-I');
  else if (method !== 'GET') argv.push('-X', method);
  for (const [k, v] of Object.entries(headers)) argv.push('-H', `${k}: ${v}`);
  argv.push(...args, '-o', '-', url);
  try {
    const child = spawn('curl', argv, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    const code = await withTimeout(
      new Promise((resolve, reject) => {
        child.on('error', reject);
        child.on('close', (c) => resolve(c));
      }),
      timeoutMs + 5000,
      `curl ${url}`,
    ).catch((e) => {
      child.kill('SIGKILL');
      throw e;
    });
    let raw = '';
    try {
      raw = await readFile(hdrFile, 'latin1');
    } catch {
      raw = '';
    }
    // Last header block (curl writes one per response; 1xx/redirects are not followed here).
    const blocks = raw.split(/\r?\n\r?\n/).filter((b) => b.trim() !== '');
    const last = blocks[blocks.length - 1] ?? '';
    const lines = last.split(/\r?\n/);
    const statusLine = lines.shift() ?? '';
    const status = Number(/^HTTP\/[\d.]+\s+(\d{3})/.exec(statusLine)?.[1] ?? 0);
    const headerList = [];
    const hdrs = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      if (i <= 0) continue;
      const k = l.slice(0, i).trim().toLowerCase();
      const v = l.slice(i + 1).trim();
      headerList.push([k, v]);
      hdrs[k] = k in hdrs ? `${hdrs[k]}, ${v}` : v;
    }
    const body = method === 'HEAD' ? Buffer.alloc(0) : Buffer.concat(out);
    if (checkXet) {
      assertNoXetHints(headerList, `curl ${method} ${url}`);
      assertNoXetJson(body, headerList, `curl ${method} ${url}`);
    }
    return { code, status, headers: hdrs, headerList, body, stderr: Buffer.concat(err).toString() };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Sends raw bytes over TCP and parses the answer (status line, headers, body until close or
// Content-Length). Used for requests that clients would normalize (.., %00, huge headers).
export function rawHttp(url, text, { timeoutMs = 10000 } = {}) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: u.hostname, port: Number(u.port) });
    const chunks = [];
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      const buf = Buffer.concat(chunks);
      const sep = buf.indexOf('\r\n\r\n');
      if (sep < 0) return resolve({ status: 0, headers: {}, body: Buffer.alloc(0), raw: buf });
      const head = buf.subarray(0, sep).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/[\d.]+\s+(\d{3})/.exec(head[0])?.[1] ?? 0);
      const headers = {};
      for (const l of head.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      try {
        assertNoXetHints(headers, 'raw response');
        assertNoXetJson(buf.subarray(sep + 4), headers, 'raw response');
      } catch (e) {
        return reject(e);
      }
      resolve({ status, headers, body: buf.subarray(sep + 4), raw: buf });
    };
    const timer = setTimeout(() => {
      if (chunks.length) finish();
      else {
        settled = true;
        sock.destroy();
        reject(new Error(`rawHttp: no answer within ${timeoutMs} ms`));
      }
    }, timeoutMs);
    sock.on('data', (c) => {
      chunks.push(c);
      const buf = Buffer.concat(chunks);
      const sep = buf.indexOf('\r\n\r\n');
      if (sep >= 0) {
        const m = /\r\ncontent-length:\s*(\d+)/i.exec(buf.subarray(0, sep).toString('latin1'));
        if (m && buf.length >= sep + 4 + Number(m[1])) finish();
      }
    });
    sock.on('end', finish);
    sock.on('close', finish);
    sock.on('error', (e) => {
      if (chunks.length) finish();
      else if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(e);
      }
    });
    sock.write(text);
  });
}

// ------------------------------------------------------------------------------------------
// JSON and snapshot helpers for the metadata tests.

// Parsed JSON body of a request()/curl() answer (gzip inflated).
export function jsonBody(r) {
  let buf = r.body;
  if (/gzip/i.test(r.headers['content-encoding'] ?? '')) buf = gunzipSync(buf);
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new Error(`not JSON (status ${r.status}, content-type ${r.headers['content-type']}): ${buf.toString('utf8').slice(0, 300)}`);
  }
}

// paths-info answers are compared without regard to order (the Hub does not promise one; a
// gateway may canonicalise the request): a copy sorted by `path`.
export function byPath(list) {
  assert.ok(Array.isArray(list), `expected a JSON array, got ${JSON.stringify(list).slice(0, 200)}`);
  return [...list].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

// Deep copy of a JSON value without any key starting with "xet" (what the gateway must answer
// when the fake Hub's answer carries Xet fields).
export function stripXet(value) {
  if (Array.isArray(value)) return value.map(stripXet);
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) if (!/^xet/i.test(k)) out[k] = stripXet(v);
    return out;
  }
  return value;
}

// {relative path -> sha256 of the bytes} of every regular file under `dir` (symlinks followed,
// as the npm client's snapshot folder is made of symlinks into blobs/).
export async function hashTree(dir) {
  const { readdir, stat } = await import('node:fs/promises');
  const out = {};
  async function walk(rel) {
    for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      const st = await stat(path.join(dir, r));
      if (st.isDirectory()) await walk(r);
      else out[r] = sha256(await readFile(path.join(dir, r)));
    }
  }
  await walk('');
  return out;
}

// Hub-side expectation for hashTree(): {path -> sha256} of a fake repo at a revision.
export function expectedTree(repo, rev = 'main') {
  const out = {};
  for (const f of repo.files(rev)) out[f.path] = f.sha256;
  return out;
}

// Requests the fake Hub received since `mark` (a number from upstreamMark(hub)).
export function upstreamMark(hub) {
  return hub.requests.length;
}
export function upstreamSince(hub, mark) {
  return hub.requests.slice(mark);
}
export function describeRequests(recs) {
  return recs.map((r) => `${r.listener} ${r.method} ${r.url} -> ${r.status}`).join('\n  ') || '(none)';
}

// ------------------------------------------------------------------------------------------
// Prometheus text format (strict).

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(s, line) {
  if (/^[+-]?Inf$/.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (s === 'NaN') return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) throw new Error(`metrics: bad value ${JSON.stringify(s)} in line ${JSON.stringify(line)}`);
  return Number(s);
}

export function seriesKey(name, labels = {}) {
  const ks = Object.keys(labels).sort();
  if (!ks.length) return name;
  return `${name}{${ks.map((k) => `${k}="${labels[k]}"`).join(',')}}`;
}

// Parses Prometheus text exposition; throws on any malformed line, duplicate series or
// inconsistent TYPE. Returns {samples: Map(key -> number), series: [{name, labels, value}],
// types: Map, get(name, labels) (0 when absent), has(name, labels), sum(name, filter)}.
export function parsePrometheus(text) {
  const samples = new Map();
  const series = [];
  const types = new Map();
  const seenNames = new Set();
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line);
      if (!m) continue; // plain comment
      const [, kind, name, rest] = m;
      if (!METRIC_NAME.test(name)) throw new Error(`metrics: bad metric name in ${JSON.stringify(line)}`);
      if (kind === 'TYPE') {
        if (!TYPES.has(rest?.trim())) throw new Error(`metrics: bad TYPE in ${JSON.stringify(line)}`);
        if (types.has(name)) throw new Error(`metrics: duplicate TYPE for ${name}`);
        if (seenNames.has(name)) throw new Error(`metrics: TYPE for ${name} after its samples`);
        types.set(name, rest.trim());
      }
      continue;
    }
    let i = 0;
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nm) throw new Error(`metrics: malformed line ${JSON.stringify(line)}`);
    const name = nm[0];
    i = name.length;
    const labels = {};
    if (line[i] === '{') {
      i++;
      for (;;) {
        while (line[i] === ' ') i++;
        if (line[i] === '}') {
          i++;
          break;
        }
        const ln = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
        if (!ln || !LABEL_NAME.test(ln[0])) throw new Error(`metrics: bad label name in ${JSON.stringify(line)}`);
        i += ln[0].length;
        while (line[i] === ' ') i++;
        if (line[i] !== '=') throw new Error(`metrics: expected = in ${JSON.stringify(line)}`);
        i++;
        while (line[i] === ' ') i++;
        if (line[i] !== '"') throw new Error(`metrics: expected quoted label value in ${JSON.stringify(line)}`);
        i++;
        let v = '';
        for (;;) {
          if (i >= line.length) throw new Error(`metrics: unterminated label value in ${JSON.stringify(line)}`);
          const c = line[i++];
          if (c === '"') break;
          if (c === '\\') {
            const e = line[i++];
            if (e === 'n') v += '\n';
            else if (e === '\\' || e === '"') v += e;
            else throw new Error(`metrics: bad escape in ${JSON.stringify(line)}`);
          } else v += c;
        }
        if (ln[0] in labels) throw new Error(`metrics: duplicate label ${ln[0]} in ${JSON.stringify(line)}`);
        labels[ln[0]] = v;
        while (line[i] === ' ') i++;
        if (line[i] === ',') i++;
        else if (line[i] !== '}') throw new Error(`metrics: expected , or } in ${JSON.stringify(line)}`);
      }
    }
    if (line[i] !== ' ' && line[i] !== '\t') throw new Error(`metrics: expected space before value in ${JSON.stringify(line)}`);
    const parts = line.slice(i).trim().split(/\s+/);
    if (parts.length < 1 || parts.length > 2) throw new Error(`metrics: malformed line ${JSON.stringify(line)}`);
    const value = parseValue(parts[0], line);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`metrics: bad timestamp in ${JSON.stringify(line)}`);
    const key = seriesKey(name, labels);
    if (samples.has(key)) throw new Error(`metrics: duplicate series ${key}`);
    samples.set(key, value);
    series.push({ name, labels, value });
    seenNames.add(name);
    const base = name.replace(/_(bucket|sum|count|total|created)$/, '');
    seenNames.add(base);
  }
  const match = (labels, filter) =>
    Object.entries(filter).every(([k, f]) => (f instanceof RegExp ? f.test(labels[k] ?? '') : labels[k] === String(f)));
  return {
    samples,
    series,
    types,
    get: (name, labels = {}) => samples.get(seriesKey(name, labels)) ?? 0,
    has: (name, labels) => (labels ? samples.has(seriesKey(name, labels)) : series.some((s) => s.name === name)),
    sum: (name, filter = {}) => series.filter((s) => s.name === name && match(s.labels, filter)).reduce((a, s) => a + s.value, 0),
  };
}

// ------------------------------------------------------------------------------------------
// Gateway process.

// Gateways never outlive the test process, even when it is interrupted (ctest timeout, ^C).
const liveGateways = new Set();
function killLiveGateways() {
  for (const p of liveGateways) {
    try {
      p.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.on('exit', () => {
  killLiveGateways();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});
for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  process.once(sig, () => {
    killLiveGateways();
    process.exit(code);
  });
}

export function gatewayBinary() {
  const bin = process.env.HUBGATE_BIN;
  if (bin) return bin;
  const fallback = path.resolve(HERE, '../../build/hubgate');
  if (existsSync(fallback)) return fallback;
  throw new Error(
    `HUBGATE_BIN is not set and ${fallback} does not exist: build hubgate and set HUBGATE_BIN=/path/to/hubgate (ctest sets it)`,
  );
}

const LOG_CAP = 4 * 1024 * 1024;

// Starts `hubgate serve` against `upstream` on a free loopback port. Resolves once it printed
// "hubgate listening on http://127.0.0.1:PORT" (and, when env.HUBGATE_ADMIN_LISTEN is set, "hubgate
// admin listening on URL": gw.adminUrl). Options: cacheDir (reused across restarts; a temp dir is
// created and removed by stop() when omitted), extraArgs, env, startTimeoutMs, logCap (bytes of
// stderr and stdout kept: gw.logs(), gw.stdout(); Infinity keeps everything, e.g. to scan logs).
export async function startGateway({ upstream, extraArgs = [], env = {}, cacheDir, startTimeoutMs = 10000, logCap = LOG_CAP } = {}) {
  assert.ok(upstream, 'startGateway: upstream URL required');
  const bin = gatewayBinary();
  const ownsCache = !cacheDir;
  const dir = cacheDir ?? (await makeTempDir('hubgate-cache-'));
  const args = ['serve', '--listen', '127.0.0.1:0', '--upstream', upstream, '--cache-dir', dir, '--log-level', 'debug', ...extraArgs];
  // No free-disk reserve unless a test asks: CI machines may have little free disk, and the
  // default reserve (1 GiB) would turn every fill into an uncached pass-through there.
  const proc = spawn(bin, args, { env: cleanEnv({ HUBGATE_CACHE_MIN_FREE: '0', ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
  liveGateways.add(proc);
  let stdout = '';
  let stderr = '';
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      liveGateways.delete(proc);
      resolve({ code, signal });
    });
    proc.on('error', (err) => {
      // spawn failure (ENOENT, EACCES): no 'exit' follows
      liveGateways.delete(proc);
      stderr += `spawn ${bin}: ${err.message}\n`;
      resolve({ code: null, signal: null, error: err });
    });
  });
  proc.stderr.on('data', (c) => {
    stderr += c.toString();
    if (stderr.length > logCap) stderr = stderr.slice(-logCap / 2);
  });
  const wantAdmin = !!env.HUBGATE_ADMIN_LISTEN;
  let url;
  let adminUrl = null;
  try {
    url = await withTimeout(
      new Promise((resolve, reject) => {
        proc.stdout.on('data', (c) => {
          stdout += c.toString();
          if (stdout.length > logCap) stdout = stdout.slice(-logCap / 2);
          const m = /hubgate listening on (http:\/\/127\.0\.0\.1:\d+)\s*\n/.exec(stdout);
          const a = /hubgate admin listening on (http:\/\/127\.0\.0\.1:\d+)\s*\n/.exec(stdout);
          if (a) adminUrl ??= a[1];
          if (m && (!wantAdmin || a)) resolve(m[1]);
        });
        exited.then(({ code, signal }) =>
          reject(new Error(`hubgate exited before listening (code ${code}, signal ${signal})\nargs: ${args.join(' ')}\nstdout: ${stdout}\nstderr: ${stderr.slice(-4000)}`)),
        );
      }),
      startTimeoutMs,
      'hubgate startup',
    );
  } catch (e) {
    proc.kill('SIGKILL');
    await exited;
    if (ownsCache) await rm(dir, { recursive: true, force: true });
    throw new Error(e.message.includes('stderr:') ? e.message : `${e.message}\nstderr: ${stderr.slice(-4000)}`);
  }
  proc.stdout.on('data', () => {}); // keep draining
  let expectedExit = false;
  exited.then(({ code, signal }) => {
    if (!expectedExit) {
      process.stderr.write(`\n*** hubgate (${url}) exited unexpectedly: code ${code}, signal ${signal}\n--- last log lines ---\n${stderr.slice(-6000)}\n---\n`);
    }
  });

  const gw = {
    url,
    adminUrl,
    proc,
    cacheDir: dir,
    args,
    exited,
    logs: () => stderr,
    stdout: () => stdout,
    logTail: (n = 4000) => stderr.slice(-n),
    alive: () => proc.exitCode === null && proc.signalCode === null,
    async metrics() {
      const r = await request(`${url}/metrics`, { timeoutMs: 10000 });
      assert.equal(r.status, 200, `/metrics answered ${r.status}`);
      return parsePrometheus(r.body.toString('utf8'));
    },
    async stop({ keepCache = false } = {}) {
      expectedExit = true;
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const done = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
        if (!done) {
          proc.kill('SIGKILL');
          await exited;
        }
      }
      if (ownsCache && !keepCache) await rm(dir, { recursive: true, force: true });
    },
    async kill9() {
      expectedExit = true;
      proc.kill('SIGKILL');
      return exited;
    },
  };
  return gw;
}

// Streams a GET and hashes the body without keeping it: {status, headers, length, sha256,
// complete (all announced bytes arrived and the response ended cleanly), error, startedAt,
// firstByteAt, endedAt} (times from performance.now()). Connection failures (before or during
// the body) resolve with complete=false (status 0 if no header arrived); it rejects only when
// the answer carries a Xet hint.
export function requestHash(url, { method = 'GET', headers = {}, timeoutMs = 60000, onData } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const startedAt = performance.now();
    const h = createHash('sha256');
    let length = 0;
    let firstByteAt = null;
    let res0 = null;
    let done = false;
    const finish = (error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const announced = res0 ? Number(res0.headers['content-length'] ?? NaN) : NaN;
      resolve({
        status: res0?.statusCode ?? 0,
        headers: res0?.headers ?? {},
        length,
        sha256: h.digest('hex'),
        complete: !error && !!res0?.complete && (Number.isNaN(announced) || announced === length),
        error: error ?? null,
        startedAt,
        firstByteAt,
        endedAt: performance.now(),
      });
    };
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers, agent: false }, (res) => {
      res0 = res;
      try {
        assertNoXetHints(res.headers, `${method} ${u.pathname}`);
      } catch (e) {
        done = true;
        clearTimeout(timer);
        res.destroy();
        reject(e);
        return;
      }
      res.on('data', (c) => {
        if (firstByteAt === null) firstByteAt = performance.now();
        length += c.length;
        h.update(c);
        onData?.(c, length);
      });
      res.on('end', () => finish(null));
      res.on('error', (e) => finish(e));
      res.on('close', () => finish(res.complete ? null : new Error('connection closed before the body ended')));
    });
    const timer = setTimeout(() => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${url}`)), timeoutMs);
    // A connection failing before the response header (refused, reset) is a result too:
    // status 0, complete false.
    req.on('error', (e) => finish(e));
    req.end();
  });
}

// Polls gw.metrics() until pred(metrics) is true; rejects after timeoutMs with the last values
// of `names` in the message. (Polling a counter is an observation, not a sleep ordering events.)
export async function waitForMetrics(gw, pred, { timeoutMs = 10000, what = 'metrics condition', names = [] } = {}) {
  const deadline = performance.now() + timeoutMs;
  let last;
  for (;;) {
    last = await gw.metrics();
    if (pred(last)) return last;
    if (performance.now() > deadline) {
      const vals = names.map((n) => `${n}=${last.sum(n)}`).join(' ');
      throw new Error(`timeout waiting for ${what} (${vals})`);
    }
    await sleep(50);
  }
}

// Snapshot of the gateway counters tests look at; delta(after, before, name, labels).
export const COUNTERS = [
  'hubgate_cache_hits_total',
  'hubgate_cache_misses_total',
  'hubgate_upstream_body_bytes_total',
  'hubgate_fill_started_total',
  'hubgate_fill_joined_total',
  'hubgate_fill_failed_total',
  'hubgate_fill_completed_total',
  'hubgate_fill_resumed_total',
  'hubgate_digest_mismatch_total',
];

export function delta(after, before, name, filter = {}) {
  return after.sum(name, filter) - before.sum(name, filter);
}

// ---- shared by the metadata tests ------------------------------------------------------------

// URL prefix of a repo type ("" for models) and a path encoded per segment, as clients send them.
export const repoPrefix = (type) => (type === 'model' ? '' : `${type}s/`);
export const encPath = (p) => p.split('/').map(encodeURIComponent).join('/');

// The fake's own answer to the same request (no gateway), Xet fields removed.
export async function fakeJson(hub, pathAndQuery, opts = {}) {
  const r = await request(`${hub.url}${pathAndQuery}`, { ...opts, checkXet: false });
  assert.equal(r.status, 200, `fake ${pathAndQuery}: ${r.status} ${r.body.toString().slice(0, 200)}`);
  return stripXet(jsonBody(r));
}

// The URL of a `Link: <url>; rel="next"` header value, or null.
export function nextLink(value) {
  const m = value ? /<([^>]+)>\s*;\s*rel="?next"?/i.exec(value) : null;
  return m ? m[1] : null;
}

export async function collect(gen) {
  const out = [];
  for await (const x of gen) out.push(x);
  return out;
}

// A fetch for the npm client that checks every answer (checkedFetch) and records its URL,
// method, status, Link and stale marker in `log`.
export function recordingFetch(log) {
  return async (input, init) => {
    const resp = await checkedFetch(input, init);
    log.push({
      url: String(input),
      method: init?.method ?? 'GET',
      status: resp.status,
      link: resp.headers.get('link'),
      stale: resp.headers.get('x-hubgate-stale'),
      headers: resp.headers,
    });
    return resp;
  };
}
