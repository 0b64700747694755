// Fake Hugging Face Hub for hubgate's integration tests and benchmarks.
//
// An independent implementation of docs/hub-protocol.md §10 built on node's `http` module only:
// a Hub listener (resolve, resolve-cache, raw, the read API) and a second listener acting as the
// signed-URL CDN for LFS/Xet-backed files. Everything is scriptable per file path: status
// overrides, mid-body aborts, corrupted bytes, throttling, pause gates, header delays, ignored
// Range, redirect targets. Every request is logged (listener, method, path, query, headers,
// Authorization, Range, status, body bytes sent) so tests can assert on upstream traffic.
// Access: addToken/removeToken, grantAccess/revokeAccess(repo, token) change who may read a
// private or gated repo between requests; setDown() makes the Hub and/or CDN unreachable.
//
// Library use:   const hub = await startFakeHub({ xet: true });
//                const repo = hub.addRepo({ id: 'org/model', files: [{ path: 'a.bin', content, lfs: true }] });
// CLI (benchmarks): node fakehub.mjs --port 0 --cdn-port 0 --fixture big:1073741824 --fixture small:1024
//                prints one JSON line {url, cdnUrl, repo, files} and serves until SIGTERM.
import http from 'node:http';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { gzipSync } from 'node:zlib';
import { pathToFileURL } from 'node:url';
import {
  BufferContent,
  GeneratedContent,
  asContent,
  digestContent,
  gitBlobSha1,
  lfsPointer,
  randomContent,
} from './content.mjs';

export { GeneratedContent, BufferContent, randomContent, gitBlobSha1, lfsPointer };
export { sha256Hex } from './content.mjs';

const REPO_TYPES = new Set(['model', 'dataset', 'space']);
const API_MARKERS = new Set(['revision', 'tree', 'paths-info', 'refs', 'commits', 'xet-read-token', 'auth-check', 'commit', 'preupload']);
const EXPOSE_HEADERS =
  'X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,Accept-Ranges,Content-Range,X-Linked-Size,X-Linked-ETag,X-Xet-Hash';
const FIXED_DATE = '2025-01-01T00:00:00.000Z';
const SEND_CHUNK = 256 * 1024;
const HEX40 = /^[0-9a-f]{40}$/;

// A gate a test can await and open: `await gate.reached` resolves once the fake got there;
// `gate.release()` lets it continue. Gates never time out by themselves; close() releases all.
export function createGate(name = 'gate') {
  let reach;
  let release;
  const gate = {
    name,
    isReached: false,
    isReleased: false,
    reached: new Promise((r) => (reach = r)),
    released: new Promise((r) => (release = r)),
    _reach() {
      if (!gate.isReached) {
        gate.isReached = true;
        reach();
      }
    },
    release() {
      gate.isReleased = true;
      release();
    },
  };
  return gate;
}

function typePrefix(type) {
  return type === 'model' ? '' : `${type}s/`;
}

function repoKey(type, id) {
  return `${type}s/${id}`;
}

function safeDecode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

function headerSafe(s) {
  // Header values must be latin1; keep the message readable by escaping anything else.
  return String(s).replace(/[^\x20-\x7e]/g, (c) => encodeURIComponent(c));
}

function contentTypeFor(path) {
  const ext = path.toLowerCase().split('.').pop();
  switch (ext) {
    case 'json':
      return 'application/json; charset=utf-8';
    case 'txt':
    case 'md':
    case 'py':
    case 'yaml':
    case 'yml':
    case 'csv':
      return 'text/plain; charset=utf-8';
    default:
      return 'application/octet-stream';
  }
}

function contentDisposition(path) {
  const name = path.split('/').pop();
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `inline; filename*=UTF-8''${encodeURIComponent(name)}; filename="${ascii}";`;
}

// Parses a single-range `Range` header against `size`.
// Returns null (no/unsupported/ignorable range), {unsatisfiable:true}, or {start, end} (inclusive).
export function parseRange(header, size) {
  if (!header) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return null; // multi-range or garbage: ignored, full answer
  const [, a, b] = m;
  if (a === '' && b === '') return null;
  if (a === '') {
    const n = Number(b);
    if (n === 0) return { unsatisfiable: true };
    if (size === 0) return { unsatisfiable: true };
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  let end = b === '' ? size - 1 : Number(b);
  if (b !== '' && end < start) return null; // invalid: ignore
  if (start >= size) return { unsatisfiable: true };
  end = Math.min(end, size - 1);
  return { start, end };
}

function etagMatches(ifNoneMatch, etag) {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const strip = (t) => t.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((t) => strip(t) === etag);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Does a request record match a findRequests filter {listener, method, pathIncludes, path (file
// path), repo, status, hasAuth, range (true: any Range header; string: exact), where(rec)}?
function recMatches(r, filter = {}) {
  if (filter.listener && r.listener !== filter.listener) return false;
  if (filter.method && r.method !== filter.method.toUpperCase()) return false;
  if (filter.pathIncludes && !r.path.includes(filter.pathIncludes) && !r.decodedPath.includes(filter.pathIncludes)) return false;
  if (filter.path !== undefined && r.file?.path !== filter.path) return false;
  if (filter.repo !== undefined && r.file?.repoKey !== filter.repo && r.file?.repoId !== filter.repo) return false;
  if (filter.status !== undefined && r.status !== filter.status) return false;
  if (filter.hasAuth !== undefined && r.hasAuth !== filter.hasAuth) return false;
  if (filter.range === true && !r.range) return false;
  if (typeof filter.range === 'string' && r.range !== filter.range) return false;
  if (filter.where && !filter.where(r)) return false;
  return true;
}

// Headers a fault adds to its answers (spec.headers may be a function of the fault handle).
function faultHeaders(f) {
  const h = f?.spec?.headers;
  if (!h) return {};
  return typeof h === 'function' ? h(f) ?? {} : h;
}

// Deterministic files for a big repo: `count` files spread over nested directories (every 4th at
// the root, the others up to three levels deep), sizes 40..2039 bytes, every `lfsEvery`-th one
// (0 = none) LFS with `lfsSize` bytes. Names are unique and never both a file and a directory.
export function generateFiles(seed, count, { lfsEvery = 0, lfsSize = 20000, ext = 'txt' } = {}) {
  const dirs = ['', 'data', 'data/train', 'data/train/shards', 'data/test', 'docs', 'models/v1', 'models/v2/extra'];
  const out = [];
  for (let i = 0; i < count; i++) {
    const dir = i % 4 === 0 ? '' : dirs[1 + (i % (dirs.length - 1))];
    const lfs = lfsEvery > 0 && i % lfsEvery === lfsEvery - 1;
    const name = `${lfs ? 'blob' : 'file'}-${String(i).padStart(4, '0')}.${lfs ? 'bin' : ext}`;
    const size = lfs ? lfsSize + i : 40 + ((i * 37) % 2000);
    out.push({ path: dir ? `${dir}/${name}` : name, content: randomContent(`${seed}:${i}`, size), lfs });
  }
  return out;
}

class FileEntry {
  constructor({ path, content, lfs = false }) {
    if (!path || path.startsWith('/') || path.split('/').some((s) => s === '' || s === '.' || s === '..')) {
      throw new Error(`bad file path ${JSON.stringify(path)}`);
    }
    this.path = path;
    this.content = asContent(content);
    this.size = this.content.size;
    this.lfs = !!lfs;
    const d = digestContent(this.content, { sha256: true, gitSha1: !this.lfs });
    this.sha256 = d.sha256;
    if (this.lfs) {
      this.pointer = lfsPointer(this.sha256, this.size);
      this.sha1 = gitBlobSha1(this.pointer); // the git blob is the pointer
    } else {
      this.sha1 = d.sha1;
    }
    this.xetHash = createHash('sha256').update('xet:' + this.sha256).digest('hex');
    this.cdnEtag = '"' + createHash('md5').update('cdn:' + this.sha256).digest('hex') + '"';
  }

  // The ETag a client caches under: sha256 for LFS, git blob sha1 for regular files.
  get etag() {
    return `"${this.lfs ? this.sha256 : this.sha1}"`;
  }

  bytes() {
    return this.content.toBuffer();
  }

  describe() {
    return {
      path: this.path,
      size: this.size,
      lfs: this.lfs,
      sha256: this.sha256,
      sha1: this.sha1,
      etag: this.etag,
      xetHash: this.xetHash,
    };
  }
}

// One repository: commits (each with its own file set), branches, tags, PR refs.
export class Repo {
  constructor(hub, opts) {
    const type = opts.type ?? 'model';
    if (!REPO_TYPES.has(type)) throw new Error(`bad repo type ${type}`);
    if (!/^[^/]+(\/[^/]+)?$/.test(opts.id)) throw new Error(`bad repo id ${opts.id}`);
    this.hub = hub;
    this.type = type;
    this.id = opts.id;
    this.key = repoKey(type, opts.id);
    this.private = !!opts.private;
    this.gated = opts.gated ? (opts.gated === true ? 'auto' : opts.gated) : false;
    this.cardData = opts.cardData ?? null; // repo card metadata (license ...) for repo info
    this.readers = new Set(opts.readers ?? []); // tokens that can read a private repo
    this.approved = new Set(opts.approved ?? []); // tokens approved for a gated repo
    this.disabled = !!opts.disabled;
    this.commits = new Map(); // sha -> {sha, parent, title, date, files: Map(path -> FileEntry)}
    this.branches = new Map();
    this.tags = new Map();
    this.prs = new Map(); // number -> sha
    this.converts = new Map();
    this.commitCounter = 0;
    this.objectId = createHash('sha1').update('repo:' + this.key).digest('hex').slice(0, 24);
    const sha = this.addCommit({ files: opts.files ?? [], sha: opts.commit, title: 'Initial commit' });
    this.initialCommit = sha;
    const branches = opts.branches ?? { main: sha };
    for (const [name, c] of Object.entries(branches)) this.setBranch(name, c ?? sha);
    if (!this.branches.has('main')) this.setBranch('main', sha);
    for (const [name, c] of Object.entries(opts.tags ?? {})) this.setTag(name, c ?? sha);
    for (const [n, c] of Object.entries(opts.prs ?? {})) this.setPr(n, c ?? sha);
  }

  get commit() {
    return this.branches.get('main');
  }

  // Creates a commit. `files` replace/add entries on top of `base` (a commit sha, default: the
  // current head of `branch` when given, else an empty tree) minus `remove`. Moves `branch` if set.
  addCommit({ files = [], base, remove = [], branch, sha, title } = {}) {
    const baseSha = base ?? (branch ? this.branches.get(branch) : undefined);
    const map = new Map(baseSha ? this.commitOrThrow(baseSha).files : []);
    for (const p of remove) map.delete(p);
    for (const f of files) {
      const e = f instanceof FileEntry ? f : new FileEntry(f);
      map.set(e.path, e);
    }
    for (const p of map.keys()) {
      for (const q of map.keys()) {
        if (q.startsWith(p + '/')) throw new Error(`path ${p} is both a file and a directory`);
      }
    }
    const n = this.commitCounter++;
    const commitSha =
      sha ??
      createHash('sha1')
        .update(`${this.key}\n${n}\n${baseSha ?? ''}\n`)
        .update([...map.values()].map((e) => `${e.path}:${e.sha1}`).sort().join('\n'))
        .digest('hex');
    if (!HEX40.test(commitSha)) throw new Error(`commit sha must be 40 hex: ${commitSha}`);
    this.commits.set(commitSha, {
      sha: commitSha,
      parent: baseSha ?? null,
      title: title ?? `Commit ${n}`,
      date: new Date(Date.parse(FIXED_DATE) + n * 1000).toISOString(),
      files: map,
    });
    if (branch) this.setBranch(branch, commitSha);
    return commitSha;
  }

  commitOrThrow(sha) {
    const c = this.commits.get(sha);
    if (!c) throw new Error(`unknown commit ${sha} in ${this.key}`);
    return c;
  }

  setBranch(name, sha) {
    this.commitOrThrow(sha);
    this.branches.set(name, sha);
  }

  deleteBranch(name) {
    this.branches.delete(name);
  }

  setTag(name, sha) {
    this.commitOrThrow(sha);
    this.tags.set(name, sha);
  }

  setPr(n, sha) {
    this.commitOrThrow(sha);
    this.prs.set(String(n), sha);
  }

  setConvert(name, sha) {
    this.commitOrThrow(sha);
    this.converts.set(name, sha);
  }

  // Revision -> commit sha, or null. Accepts branch, tag, refs/pr/N, refs/convert/x, refs/heads/x,
  // HEAD, full commit, unique commit prefix (>= 7 hex).
  resolveRevision(rev) {
    if (rev === 'HEAD') return this.branches.get('main') ?? null;
    if (this.branches.has(rev)) return this.branches.get(rev);
    if (this.tags.has(rev)) return this.tags.get(rev);
    let m = /^refs\/pr\/(\d+)$/.exec(rev);
    if (m) return this.prs.get(m[1]) ?? null;
    m = /^refs\/convert\/(.+)$/.exec(rev);
    if (m) return this.converts.get(m[1]) ?? null;
    m = /^refs\/heads\/(.+)$/.exec(rev);
    if (m) return this.branches.get(m[1]) ?? null;
    m = /^refs\/tags\/(.+)$/.exec(rev);
    if (m) return this.tags.get(m[1]) ?? null;
    if (HEX40.test(rev)) return this.commits.has(rev) ? rev : null;
    if (/^[0-9a-f]{7,39}$/.test(rev)) {
      const hits = [...this.commits.keys()].filter((c) => c.startsWith(rev));
      return hits.length === 1 ? hits[0] : null;
    }
    return null;
  }

  // File entry at a revision (default main), or undefined.
  file(path, rev = 'main') {
    const sha = this.resolveRevision(rev);
    return sha ? this.commits.get(sha).files.get(path) : undefined;
  }

  files(rev = 'main') {
    const sha = this.resolveRevision(rev);
    return sha ? [...this.commits.get(sha).files.values()] : [];
  }

  // Resolve URL path (without host) as a client would build it.
  resolvePath(path, rev = 'main', { encodeRev = true } = {}) {
    const r = encodeRev ? encodeURIComponent(rev) : rev;
    const p = path.split('/').map(encodeURIComponent).join('/');
    return `/${typePrefix(this.type)}${this.id}/resolve/${r}/${p}`;
  }
}

// ---------------------------------------------------------------------------------------------

class FakeHub extends EventEmitter {
  constructor(options = {}) {
    super();
    this.setMaxListeners(0);
    this.options = {
      host: '127.0.0.1',
      port: 0,
      cdnPort: 0,
      xet: false, // send Xet hints on LFS answers, xetHash in tree/paths-info
      redirectRegularAtBranch: true, // regular file at a branch/tag -> relative 307 to resolve-cache
      cdnUrlTtlSeconds: 3600,
      treePageSize: 1000,
      treePageSizeExpand: 50,
      cdnHost: null, // host written into CDN Locations; default: the listen host
      gzipJson: false, // gzip JSON answers when the client sends Accept-Encoding: gzip
      ...options,
    };
    this.repos = new Map();
    this.tokens = new Map(); // token -> {name, orgs}
    for (const [tok, info] of Object.entries(options.tokens ?? {})) this.addToken(tok, info);
    this.blobs = new Map(); // sha256 -> FileEntry (CDN lookup)
    this.faults = [];
    this.requests = [];
    this.cdnSecret = randomBytes(16);
    this.down = { hub: null, cdn: null };
    this.gates = new Set();
    this.requestSeq = 0;
    this.rateCounters = new Map();
    this.hooks = [];
  }

  async _listen() {
    this.hubServer = http.createServer((req, res) => this._handle('hub', req, res));
    this.cdnServer = http.createServer((req, res) => this._handle('cdn', req, res));
    for (const s of [this.hubServer, this.cdnServer]) {
      s.keepAliveTimeout = 5000;
      s.on('connection', (sock) => {
        const which = s === this.hubServer ? 'hub' : 'cdn';
        if (this.down[which] === 'reset') sock.destroy();
      });
      s.on('clientError', (err, sock) => {
        if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        else sock.destroy();
      });
    }
    await new Promise((r, j) => this.hubServer.once('error', j).listen(this.options.port, this.options.host, r));
    await new Promise((r, j) => this.cdnServer.once('error', j).listen(this.options.cdnPort, this.options.host, r));
    this.hubPort = this.hubServer.address().port;
    this.cdnPort = this.cdnServer.address().port;
    this.url = `http://${this.options.host}:${this.hubPort}`;
    this.cdnUrl = `http://${this.options.host}:${this.cdnPort}`;
  }

  // Stops everything: releases all gates, drops connections, closes both listeners.
  async close() {
    for (const g of this.gates) g.release();
    const closeOne = (s) =>
      new Promise((r) => {
        if (!s || !s.listening) return r();
        s.close(() => r());
        s.closeAllConnections();
      });
    await Promise.all([closeOne(this.hubServer), closeOne(this.cdnServer)]);
  }

  // --- fixtures ------------------------------------------------------------------------------

  addRepo(opts) {
    const repo = new Repo(this, opts);
    if (this.repos.has(repo.key)) throw new Error(`repo ${repo.key} exists`);
    this.repos.set(repo.key, repo);
    const origAdd = repo.addCommit.bind(repo);
    repo.addCommit = (o) => {
      const sha = origAdd(o);
      this._indexBlobs(repo);
      return sha;
    };
    this._indexBlobs(repo);
    return repo;
  }

  _indexBlobs(repo) {
    for (const c of repo.commits.values()) for (const f of c.files.values()) if (f.lfs) this.blobs.set(f.sha256, f);
  }

  repo(idOrKey, type) {
    if (type) return this.repos.get(repoKey(type, idOrKey));
    return this.repos.get(idOrKey) ?? this.repos.get(repoKey('model', idOrKey));
  }

  removeRepo(repo) {
    this.repos.delete(repo.key ?? repo);
  }

  addToken(token, info = {}) {
    this.tokens.set(token, { name: info.name ?? `user-${this.tokens.size}`, orgs: info.orgs ?? [], ...info });
  }

  // Forgets a token: from now on the Hub answers it 401 "Invalid username or password." everywhere
  // (a token deleted or expired at the Hub).
  removeToken(token) {
    this.tokens.delete(token);
  }

  // Gives `token` read access to `repo` (a Repo, id or type-key): reader of a private repo,
  // approved for a gated one.
  grantAccess(repo, token) {
    const r = typeof repo === 'string' ? this.repo(repo) : repo;
    if (!r) throw new Error(`unknown repo ${repo}`);
    if (r.private) r.readers.add(token);
    if (r.gated) r.approved.add(token);
  }

  // Withdraws what grantAccess gave (and any reader/approval given at addRepo): the Hub then
  // answers that token 404 RepoNotFound on a private repo, 403 GatedRepo on a gated one.
  revokeAccess(repo, token) {
    const r = typeof repo === 'string' ? this.repo(repo) : repo;
    if (!r) throw new Error(`unknown repo ${repo}`);
    r.readers.delete(token);
    r.approved.delete(token);
  }

  setXet(on) {
    this.options.xet = !!on;
  }

  // Invalidates every CDN URL handed out so far (their signature no longer verifies).
  rotateCdnSecret() {
    this.cdnSecret = randomBytes(16);
  }

  // Takes a listener down: mode 'refuse' closes it (connection refused), 'reset' accepts and
  // immediately destroys connections. setDown(false) brings both back on the same ports.
  async setDown(on, { listener = 'hub', mode = 'refuse' } = {}) {
    const targets = listener === 'both' ? ['hub', 'cdn'] : [listener];
    for (const t of targets) {
      const server = t === 'hub' ? this.hubServer : this.cdnServer;
      const port = t === 'hub' ? this.hubPort : this.cdnPort;
      if (on) {
        this.down[t] = mode;
        if (mode === 'refuse' && server.listening) {
          await new Promise((r) => {
            server.close(() => r());
            server.closeAllConnections();
          });
        } else if (mode === 'reset') {
          server.closeAllConnections();
        }
      } else {
        this.down[t] = null;
        if (!server.listening) {
          await new Promise((r, j) => server.once('error', j).listen(port, this.options.host, r));
        }
      }
    }
  }

  // --- faults --------------------------------------------------------------------------------

  // Adds a fault. `match`: {listener: 'hub'|'cdn'|'any', path (file path in the repo), repo (id or
  // type-key), method, urlIncludes, where(req)}. `spec`: {status, headers (object, or function(fault)
  // returning one, evaluated per answer), body, times, forMs (active for that long from now),
  // abortAfter, wrongBytes, wrongBytesAt, throttle (bytes/s), pauseAt, holdHeaders, delayMs,
  // ignoreRange, location, gzip, removeHeaders}. Body faults default to GET only. Returns a handle
  // {gate, headersGate, hits, until, remove()}.
  fault(match, spec = {}) {
    const bodyFault = ['abortAfter', 'wrongBytes', 'throttle', 'pauseAt', 'ignoreRange', 'gzip'].some(
      (k) => spec[k] !== undefined && spec[k] !== false,
    );
    const f = {
      match: { listener: 'any', ...match },
      spec: { ...spec },
      remaining: spec.times ?? (spec.pauseAt !== undefined ? 1 : Infinity),
      until: spec.forMs !== undefined ? Date.now() + spec.forMs : Infinity,
      hits: 0,
      methods: match.method ? [].concat(match.method).map((m) => m.toUpperCase()) : bodyFault ? ['GET'] : null,
      // Body-only faults are taken when a body is about to be streamed (so a 307/302 hop or a
      // HEAD on the same path does not consume them); others when the request arrives.
      bodyOnly: bodyFault && !['status', 'delayMs', 'holdHeaders', 'location', 'headers', 'removeHeaders'].some((k) => spec[k] !== undefined),
      gate: spec.pauseAt !== undefined ? this._gate(`pauseAt ${spec.pauseAt}`) : null,
      headersGate: spec.holdHeaders ? this._gate('holdHeaders') : null,
    };
    f.remove = () => {
      this.faults = this.faults.filter((x) => x !== f);
      f.gate?.release();
      f.headersGate?.release();
    };
    this.faults.push(f);
    return f;
  }

  clearFaults() {
    for (const f of [...this.faults]) f.remove();
  }

  // Answers requests matching `match` (see fault(); default: every Hub request) with 429 for
  // `seconds`: Retry-After (whole seconds left, at least 1), `RateLimit: "<bucket>";r=0;t=<left>`,
  // RateLimit-Policy, X-Error-Message. Returns the fault handle (hits, until, remove()).
  rateLimit(match = {}, { seconds = 5, bucket = 'api', quota = 1000 } = {}) {
    const left = (f) => Math.max(1, Math.ceil((f.until - Date.now()) / 1000));
    return this.fault({ listener: 'hub', ...match }, {
      status: 429,
      forMs: seconds * 1000,
      errorMessage: 'Too Many Requests: you have reached your rate limit',
      body: JSON.stringify({ error: 'You have exceeded our rate limit. Retry later.' }),
      headers: (f) => ({
        'Content-Type': 'application/json; charset=utf-8',
        'Retry-After': String(left(f)),
        RateLimit: `"${bucket}";r=0;t=${left(f)}`,
        'RateLimit-Policy': `"fixed window";"${bucket}";q=${quota};w=300`,
      }),
    });
  }

  // Runs `fn(rec, req)` (awaited) before the fake handles a request matching `filter` (the
  // findRequests filter; only listener/method/pathIncludes/where are known that early), at most
  // `times` times (default 1). Use it to change the fake at a chosen moment, e.g. move a branch
  // when the first tree request arrives, or as a gate (`fn` awaits a promise). Returns {hits,
  // fired (promise of the first matching rec), remove()}.
  onRequest(filter, fn, { times = 1 } = {}) {
    let fire;
    const h = {
      filter,
      fn,
      remaining: times,
      hits: 0,
      fired: new Promise((r) => (fire = r)),
      remove: () => {
        this.hooks = this.hooks.filter((x) => x !== h);
      },
    };
    h._fire = fire;
    this.hooks.push(h);
    return h;
  }

  _gate(name) {
    const g = createGate(name);
    this.gates.add(g);
    return g;
  }

  _takeFault(listener, req, ident, stage = 'pre') {
    for (const f of this.faults) {
      const m = f.match;
      if (f.remaining <= 0) continue;
      if (Date.now() >= f.until) continue;
      if (f.bodyOnly !== (stage === 'body')) continue;
      if (m.listener !== 'any' && m.listener !== listener) continue;
      if (f.methods && !f.methods.includes(req.method)) continue;
      if (m.urlIncludes && !req.url.includes(m.urlIncludes)) continue;
      if (m.where && !m.where(req)) continue;
      if (m.path !== undefined && (!ident || ident.path !== m.path)) continue;
      if (m.repo !== undefined && (!ident || (ident.repoKey !== m.repo && ident.repoId !== m.repo))) continue;
      f.remaining--;
      f.hits++;
      return f;
    }
    return null;
  }

  // --- request log -----------------------------------------------------------------------------

  clearLog() {
    this.requests = [];
  }

  // Requests matching a filter {listener, method, pathIncludes, path (file path), repo, status,
  // hasAuth, range (true: any Range header; string: exact), where(rec)}.
  findRequests(filter = {}) {
    return this.requests.filter((r) => recMatches(r, filter));
  }

  countRequests(filter = {}) {
    return this.findRequests(filter).length;
  }

  // Number of CDN GETs for a file path that sent at least one byte of file content (200/206).
  cdnBodyTransfers(path, filter = {}) {
    return this.findRequests({ listener: 'cdn', method: 'GET', path, ...filter }).filter(
      (r) => (r.status === 200 || r.status === 206) && r.bodyBytesSent > 0,
    ).length;
  }

  // Number of Hub GETs (resolve, resolve-cache, raw) of a file path that sent file content
  // (200/206; redirect and error bodies do not count).
  hubBodyTransfers(path, filter = {}) {
    return this.findRequests({ listener: 'hub', method: 'GET', path, ...filter }).filter(
      (r) => (r.status === 200 || r.status === 206) && r.bodyBytesSent > 0,
    ).length;
  }

  // Resolves with the first request record (past or future) satisfying `filter`; rejects after
  // timeoutMs.
  waitForRequest(filter, { timeoutMs = 10000 } = {}) {
    const hit = this.findRequests(filter)[0];
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const onReq = () => {
        const h = this.findRequests(filter)[0];
        if (h) {
          cleanup();
          resolve(h);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`fakehub: no request matching ${JSON.stringify(filter)} within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.off('request', onReq);
        this.off('response', onReq);
      };
      this.on('request', onReq);
      this.on('response', onReq);
    });
  }

  // --- HTTP plumbing -------------------------------------------------------------------------

  _handle(listener, req, res) {
    const u = new URL(req.url, 'http://x');
    const rec = {
      seq: ++this.requestSeq,
      listener,
      method: req.method,
      url: req.url,
      path: u.pathname,
      decodedPath: safeDecode(u.pathname) ?? u.pathname,
      query: Object.fromEntries(u.searchParams),
      headers: { ...req.headers },
      authorization: req.headers.authorization ?? null,
      hasAuth: req.headers.authorization !== undefined,
      range: req.headers.range ?? null,
      status: null,
      bodyBytesSent: 0,
      completed: false,
      aborted: false,
      file: null,
      startedAt: Date.now(),
      finishedAt: null,
    };
    this.requests.push(rec);
    res.on('close', () => {
      rec.finishedAt = Date.now();
      if (!res.writableFinished) rec.aborted = true;
      this.emit('response', rec);
    });
    res.on('finish', () => {
      rec.completed = true;
    });
    const ctx = { listener, req, res, url: u, rec, fault: null };
    this.emit('request', rec);
    const hooks = [];
    for (const h of this.hooks) {
      if (h.remaining > 0 && recMatches(rec, h.filter)) {
        h.remaining--;
        h.hits++;
        hooks.push(h);
      }
    }
    const run = (async () => {
      for (const h of hooks) {
        await h.fn(rec, req);
        h._fire(rec);
      }
      return listener === 'hub' ? this._hub(ctx) : this._cdn(ctx);
    })();
    run.catch((err) => {
      if (!res.headersSent) {
        this._send(ctx, 500, { 'Content-Type': 'text/plain; charset=utf-8' }, `fakehub internal error: ${err.stack}`);
      } else {
        res.destroy();
      }
    });
  }

  _hubHeaders(ctx, bucket) {
    const origin = ctx.req.headers.origin;
    const quota = bucket === 'resolvers' ? 3000 : 1000;
    const used = (this.rateCounters.get(bucket) ?? 0) + 1;
    this.rateCounters.set(bucket, used);
    return {
      'Access-Control-Allow-Origin': origin ?? 'https://huggingface.co',
      'Access-Control-Expose-Headers': EXPOSE_HEADERS,
      'Access-Control-Max-Age': '86400',
      Vary: 'Origin',
      RateLimit: `"${bucket}";r=${Math.max(0, quota - used)};t=300`,
      'RateLimit-Policy': `"fixed window";"${bucket}";q=${quota};w=300`,
      'X-Request-Id': `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`,
      'X-Powered-By': 'huggingface-moon',
    };
  }

  // Applies header-level fault parts (delay, gate, status override). Returns true when the
  // response was fully answered by the fault.
  async _preFault(ctx, ident) {
    ctx.ident = ident;
    const f = this._takeFault(ctx.listener, ctx.req, ident);
    ctx.fault = f;
    if (!f) return false;
    const s = f.spec;
    if (s.delayMs) await sleep(s.delayMs);
    if (f.headersGate) {
      f.headersGate._reach();
      await f.headersGate.released;
    }
    if (s.status !== undefined) {
      const headers = { ...(ctx.listener === 'hub' ? this._hubHeaders(ctx, ctx.bucket ?? 'api') : {}) };
      if (s.errorCode) headers['X-Error-Code'] = s.errorCode;
      if (s.errorMessage) headers['X-Error-Message'] = headerSafe(s.errorMessage);
      Object.assign(headers, faultHeaders(f));
      const body = s.body ?? (s.errorMessage ?? `fault ${s.status}`);
      headers['Content-Type'] ??= 'text/plain; charset=utf-8';
      this._send(ctx, s.status, headers, body);
      return true;
    }
    return false;
  }

  _finalHeaders(ctx, headers) {
    const s = ctx.fault?.spec;
    if (!s) return headers;
    const out = { ...headers, ...faultHeaders(ctx.fault) };
    for (const h of s.removeHeaders ?? []) {
      for (const k of Object.keys(out)) if (k.toLowerCase() === h.toLowerCase()) delete out[k];
    }
    return out;
  }

  // Sends a small complete answer (body: string/Buffer; HEAD sends headers only).
  _send(ctx, status, headers, body = '') {
    const { res, req, rec } = ctx;
    const buf = Buffer.isBuffer(body) ? body : Buffer.from(String(body));
    headers = this._finalHeaders(ctx, headers);
    for (const k of Object.keys(headers)) if (headers[k] === undefined || headers[k] === null) delete headers[k];
    const noBody = status === 304 || status === 204;
    if (noBody) {
      for (const k of Object.keys(headers)) if (k.toLowerCase() === 'content-length') delete headers[k];
    } else if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-length')) {
      headers['Content-Length'] = buf.length;
    }
    rec.status = status;
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || status === 304 || status === 204) {
      res.end();
      return;
    }
    rec.bodyBytesSent += buf.length;
    res.end(buf);
  }

  _json(ctx, status, obj, headers = {}) {
    let body = Buffer.from(JSON.stringify(obj));
    const h = { 'Content-Type': 'application/json; charset=utf-8', ...headers };
    if (this.options.gzipJson && /\bgzip\b/i.test(ctx.req.headers['accept-encoding'] ?? '') && status !== 204 && status !== 304) {
      body = gzipSync(body);
      h['Content-Encoding'] = 'gzip';
      h.Vary = h.Vary ? `${h.Vary}, Accept-Encoding` : 'Accept-Encoding';
    }
    this._send(ctx, status, h, body);
  }

  _hubError(ctx, status, { code, message, json = false, extra = {} }) {
    const headers = { ...this._hubHeaders(ctx, ctx.bucket ?? 'api'), ...extra };
    if (code) headers['X-Error-Code'] = code;
    if (message) headers['X-Error-Message'] = headerSafe(message);
    if (status === 401 && !code) {
      headers['WWW-Authenticate'] = 'Bearer realm="Authentication required", charset="UTF-8"';
    }
    if (json) this._json(ctx, status, { error: message }, headers);
    else this._send(ctx, status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' }, message ?? '');
  }

  // Streams content[start..end] (inclusive) with the body faults of ctx.fault applied.
  async _streamBody(ctx, content, start, end, fileOffsetBase = start) {
    const { res, rec } = ctx;
    const s = ctx.fault?.spec ?? {};
    const gate = ctx.fault?.gate;
    const total = end - start + 1;
    let sent = 0;
    const t0 = Date.now();
    const wrongAt =
      s.wrongBytes !== undefined && s.wrongBytes !== false
        ? s.wrongBytesAt ?? (typeof s.wrongBytes === 'number' ? s.wrongBytes : Math.floor(content.size / 2))
        : null;
    // Resolves true once `buf` was handed to the kernel (flow control), false if the peer left.
    const closed = new Promise((resolve) => res.once('close', () => resolve(false)));
    const write = (buf) => {
      if (res.destroyed) return Promise.resolve(false);
      const done = new Promise((resolve) => res.write(buf, (err) => resolve(!err)));
      rec.bodyBytesSent += buf.length;
      return Promise.race([done, closed]);
    };
    const chunkSize = s.throttle ? Math.max(1024, Math.min(SEND_CHUNK, Math.floor(s.throttle / 20))) : SEND_CHUNK;
    while (sent < total) {
      if (res.destroyed) return;
      let n = Math.min(chunkSize, total - sent);
      let pauseHere = false;
      let abortHere = false;
      if (gate && !gate.isReleased && s.pauseAt !== undefined && sent < s.pauseAt && sent + n >= s.pauseAt) {
        n = s.pauseAt - sent;
        pauseHere = true;
      }
      if (s.abortAfter !== undefined && sent + n >= s.abortAfter) {
        n = s.abortAfter - sent;
        abortHere = true;
      }
      if (n > 0) {
        let buf = content.read(start + sent, n);
        if (wrongAt !== null) {
          const abs = start + sent;
          if (wrongAt >= abs && wrongAt < abs + n) {
            buf = Buffer.from(buf);
            buf[wrongAt - abs] ^= 0xff;
          }
        }
        if (!(await write(buf))) return;
        sent += n;
        if (s.throttle) {
          const due = t0 + (sent / s.throttle) * 1000;
          const wait = due - Date.now();
          if (wait > 0) await sleep(wait);
        }
      }
      if (pauseHere) {
        gate._reach();
        await gate.released;
      }
      if (abortHere) {
        res.destroy();
        return;
      }
    }
    res.end();
  }

  // Serves a content object with Range / If-None-Match semantics.
  async _serveContent(ctx, content, headers, etag) {
    const { req, res, rec } = ctx;
    if (etagMatches(req.headers['if-none-match'], etag)) {
      const h = { ...headers };
      delete h['Content-Type'];
      this._send(ctx, 304, { ...h, ETag: etag });
      return;
    }
    let bodyFault = null;
    if (!ctx.fault) {
      bodyFault = this._takeFault(ctx.listener, req, ctx.ident, 'body');
      ctx.fault = bodyFault;
    }
    const s = ctx.fault?.spec ?? {};
    const range = s.ignoreRange ? null : parseRange(req.headers.range, content.size);
    if (range?.unsatisfiable && bodyFault) {
      // Nothing streamed: give the fault back.
      bodyFault.remaining++;
      bodyFault.hits--;
      ctx.fault = null;
    }
    if (range?.unsatisfiable) {
      this._send(ctx, 416, {
        ...headers,
        ETag: etag,
        'Content-Range': `bytes */${content.size}`,
        'Content-Type': 'text/plain; charset=utf-8',
      }, 'Requested Range Not Satisfiable');
      return;
    }
    const start = range ? range.start : 0;
    const end = range ? range.end : content.size - 1;
    let h = { ...headers, ETag: etag, 'Accept-Ranges': 'bytes' };
    if (s.gzip && !range && /gzip/.test(req.headers['accept-encoding'] ?? '') && req.method === 'GET') {
      const gz = gzipSync(content.read(0, content.size));
      h['Content-Encoding'] = 'gzip';
      h = this._finalHeaders(ctx, h);
      rec.status = 200;
      res.writeHead(200, h); // chunked, no Content-Length
      rec.bodyBytesSent += gz.length;
      res.end(gz);
      return;
    }
    h['Content-Length'] = end - start + 1;
    if (range) h['Content-Range'] = `bytes ${start}-${end}/${content.size}`;
    const status = range ? 206 : 200;
    h = this._finalHeaders(ctx, h);
    rec.status = status;
    res.writeHead(status, h);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    if (end < start) {
      res.end();
      return;
    }
    await this._streamBody(ctx, content, start, end);
  }

  // --- authorization -------------------------------------------------------------------------

  // null when the caller may read `repo` (files if forFiles), else an error descriptor.
  _authorize(ctx, repo, { forFiles, json }) {
    const auth = ctx.req.headers.authorization;
    let token = null;
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(auth);
      token = m && this.tokens.has(m[1]) ? m[1] : false;
    }
    if (token === false) return { status: 401, message: 'Invalid username or password.', json };
    const kind = repo ? repo.type : 'model';
    if (!repo || (repo.private && !(token && repo.readers.has(token)))) {
      if (!token) return { status: 401, message: 'Invalid username or password.', json };
      return { status: 404, code: 'RepoNotFound', message: 'Repository not found', json };
    }
    if (repo.disabled) return { status: 403, message: 'Access to this resource is disabled.', json };
    if (forFiles && repo.gated && !(token && (repo.approved.has(token) || repo.readers.has(token)))) {
      if (!token) {
        return {
          status: 401,
          code: 'GatedRepo',
          message: `Access to ${kind} ${repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in.`,
          json,
        };
      }
      return {
        status: 403,
        code: 'GatedRepo',
        message: `Access to ${kind} ${repo.id} is restricted and you are not in the authorized list. Visit https://huggingface.co/${typePrefix(repo.type)}${repo.id} to ask for access.`,
        json,
      };
    }
    return null;
  }

  // --- Hub listener --------------------------------------------------------------------------

  async _hub(ctx) {
    const { req, url } = ctx;
    const segs = url.pathname.split('/').slice(1);
    ctx.bucket = 'api';
    if (req.method === 'OPTIONS') {
      if (await this._preFault(ctx, null)) return;
      this._send(ctx, 204, {
        ...this._hubHeaders(ctx, 'api'),
        'Access-Control-Allow-Methods': 'GET, HEAD, POST, PUT, DELETE, OPTIONS',
        'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] ?? 'Authorization, Range, Content-Type',
        'Access-Control-Allow-Credentials': 'true',
      });
      return;
    }
    if (segs[0] === 'api') {
      if (segs[1] === 'resolve-cache') return this._resolveCache(ctx, segs.slice(2));
      return this._api(ctx, segs.slice(1));
    }
    return this._resolveRoute(ctx, segs);
  }

  _notFoundRoute(ctx) {
    this._hubError(ctx, 404, { message: "Sorry, we can't find the page you are looking for.", json: true });
  }

  // /{repo}/resolve|raw/{rev}/{path}, /datasets/…, /spaces/…
  async _resolveRoute(ctx, segs) {
    ctx.bucket = 'resolvers';
    let type = 'model';
    let i0 = 0;
    if (segs[0] === 'datasets' || segs[0] === 'spaces' || segs[0] === 'models') {
      type = segs[0].slice(0, -1);
      i0 = 1;
    }
    let mi = -1;
    for (let i = i0 + 1; i <= Math.min(i0 + 2, segs.length - 1); i++) {
      if (segs[i] === 'resolve' || segs[i] === 'raw') {
        mi = i;
        break;
      }
    }
    if (mi < 0 || !['GET', 'HEAD'].includes(ctx.req.method)) {
      if (await this._preFault(ctx, null)) return;
      return this._notFoundRoute(ctx);
    }
    const raw = segs[mi] === 'raw';
    const repoId = segs.slice(i0, mi).map(safeDecode).join('/');
    let j = mi + 1;
    let rev = safeDecode(segs[j] ?? '');
    if (segs[j] === 'refs' && (segs[j + 1] === 'pr' || segs[j + 1] === 'convert' || segs[j + 1] === 'heads' || segs[j + 1] === 'tags')) {
      rev = `refs/${segs[j + 1]}/${safeDecode(segs[j + 2] ?? '')}`;
      j += 3;
    } else {
      j += 1;
    }
    const pathSegs = segs.slice(j).map(safeDecode);
    if (rev === null || pathSegs.some((s) => s === null)) {
      if (await this._preFault(ctx, null)) return;
      return this._hubError(ctx, 400, { message: 'Bad request: malformed percent-encoding' });
    }
    const filePath = pathSegs.join('/');
    return this._serveResolve(ctx, { type, repoId, rev, filePath, raw, viaCache: false });
  }

  // /api/resolve-cache/{models|datasets|spaces}/{repo}/{commit}/{path}
  async _resolveCache(ctx, segs) {
    ctx.bucket = 'resolvers';
    const t = { models: 'model', datasets: 'dataset', spaces: 'space' }[segs[0]];
    let ci = -1;
    for (let i = 2; i <= 3 && i < segs.length; i++) {
      if (HEX40.test(segs[i])) {
        ci = i;
        break;
      }
    }
    if (!t || ci < 0 || !['GET', 'HEAD'].includes(ctx.req.method)) {
      if (await this._preFault(ctx, null)) return;
      return this._notFoundRoute(ctx);
    }
    const repoId = segs.slice(1, ci).map(safeDecode).join('/');
    const pathSegs = segs.slice(ci + 1).map(safeDecode);
    if (pathSegs.some((s) => s === null)) return this._hubError(ctx, 400, { message: 'Bad request' });
    return this._serveResolve(ctx, { type: t, repoId, rev: segs[ci], filePath: pathSegs.join('/'), raw: false, viaCache: true });
  }

  async _serveResolve(ctx, { type, repoId, rev, filePath, raw, viaCache }) {
    const key = repoKey(type, repoId);
    const repo = this.repos.get(key);
    const ident = { repoKey: key, repoId, path: filePath, type };
    ctx.rec.file = ident;
    if (await this._preFault(ctx, ident)) return;
    const denied = this._authorize(ctx, repo, { forFiles: true, json: false });
    if (denied) return this._hubError(ctx, denied.status, denied);
    const commit = repo.resolveRevision(rev);
    if (!commit) {
      return this._hubError(ctx, 404, { code: 'RevisionNotFound', message: `Invalid rev id: ${rev}` });
    }
    const f = repo.commits.get(commit).files.get(filePath);
    if (!f) {
      return this._hubError(ctx, 404, { code: 'EntryNotFound', message: 'Entry not found', extra: { 'X-Repo-Commit': commit } });
    }
    const base = {
      ...this._hubHeaders(ctx, 'resolvers'),
      'X-Repo-Commit': commit,
      'Accept-Ranges': 'bytes',
    };
    const isCommit = rev === commit;

    if (raw) {
      const content = f.lfs ? new BufferContent(f.pointer) : f.content;
      return this._serveContent(
        ctx,
        content,
        { ...base, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Security-Policy': "default-src 'none'; sandbox" },
        `"${f.sha1}"`,
      );
    }

    if (!f.lfs) {
      if (!isCommit && !viaCache && this.options.redirectRegularAtBranch) {
        const orig = ctx.url.pathname;
        const loc =
          `/api/resolve-cache/${type}s/${repoId}/${commit}/${filePath.split('/').map(encodeURIComponent).join('/')}` +
          `?${encodeURIComponent(orig)}=&etag=${encodeURIComponent(f.etag)}`;
        const body = `Temporary Redirect. Redirecting to ${loc}`;
        return this._send(ctx, 307, {
          ...base,
          Location: loc,
          'Content-Type': 'text/plain; charset=utf-8',
        }, body);
      }
      return this._serveContent(
        ctx,
        f.content,
        {
          ...base,
          'Content-Type': contentTypeFor(f.path),
          'Content-Disposition': contentDisposition(f.path),
          'Content-Security-Policy': "default-src 'none'; sandbox",
          'X-Hub-Cache': 'MISS',
        },
        f.etag,
      );
    }

    // LFS / Xet-backed: metadata + redirect to the signed CDN URL.
    const xetHeaders = {};
    if (this.options.xet) {
      const tokenUrl = `${this.url}/api/${type}s/${repoId}/xet-read-token/${commit}`;
      xetHeaders['X-Xet-Hash'] = f.xetHash;
      xetHeaders['X-Xet-Refresh-Route'] = `/api/${type}s/${repoId}/xet-read-token/${commit}`;
      xetHeaders.Link = `<${tokenUrl}>; rel="xet-auth", <${this.cdnUrl}/v1/reconstructions/${f.xetHash}>; rel="xet-reconstruction-info"`;
    }
    const lfsHeaders = {
      ...base,
      'X-Linked-Etag': `"${f.sha256}"`,
      'X-Linked-Size': String(f.size),
      Vary: 'Origin, Accept',
      ...xetHeaders,
    };
    if (etagMatches(ctx.req.headers['if-none-match'], `"${f.sha256}"`)) {
      return this._send(ctx, 304, { ...lfsHeaders, ETag: `"${f.sha256}"` });
    }
    const accept = ctx.req.headers.accept ?? '';
    if (this.options.xet && accept.includes('application/vnd.xet-fileinfo+json')) {
      const body = JSON.stringify({ hash: f.xetHash, refreshUrl: `${this.url}/api/${type}s/${repoId}/xet-read-token/${commit}` });
      return this._send(ctx, 200, {
        ...lfsHeaders,
        'X-Linked-ETag': `"${f.sha256}"`,
        'Content-Type': 'application/vnd.xet-fileinfo+json',
        'Cache-Control': 'no-store',
      }, body);
    }
    let location = this._signedCdnUrl(repo, f);
    const s = ctx.fault?.spec;
    if (s?.location) location = typeof s.location === 'function' ? s.location(location) : s.location;
    return this._send(ctx, 302, {
      ...lfsHeaders,
      Location: location,
      'Cache-Control': 'no-store',
      'Content-Type': 'text/plain; charset=utf-8',
    }, `Found. Redirecting to ${location}`);
  }

  _sign(pathname, file, repo, exp) {
    return createHmac('sha256', this.cdnSecret).update(`${pathname}\n${file}\n${repo}\n${exp}`).digest('hex').slice(0, 40);
  }

  _signedCdnUrl(repo, f) {
    const exp = Math.floor(Date.now() / 1000) + this.options.cdnUrlTtlSeconds;
    const repoHash = createHash('sha256').update(repo.key).digest('hex').slice(0, 16);
    const pathname = `/lfs/${repoHash}/${f.sha256}`;
    const sig = this._sign(pathname, f.path, repo.key, exp);
    const host = this.options.cdnHost ? `http://${this.options.cdnHost}:${this.cdnPort}` : this.cdnUrl;
    const q = new URLSearchParams({ file: f.path, repo: repo.key, exp: String(exp), sig });
    return `${host}${pathname}?${q}`;
  }

  // --- CDN listener --------------------------------------------------------------------------

  async _cdn(ctx) {
    const { url, req } = ctx;
    const m = /^\/lfs\/([0-9a-f]{16})\/([0-9a-f]{64})$/.exec(url.pathname);
    const q = url.searchParams;
    const ident = m ? { repoKey: q.get('repo'), repoId: q.get('repo')?.replace(/^[a-z]+s\//, ''), path: q.get('file'), type: null } : null;
    ctx.rec.file = ident;
    if (await this._preFault(ctx, ident)) return;
    const xml = (code, msg) =>
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${msg}</Message></Error>`;
    const cdnBase = { 'Access-Control-Allow-Origin': '*' };
    if (!m || !['GET', 'HEAD'].includes(req.method)) {
      return this._send(ctx, m ? 405 : 404, { ...cdnBase, 'Content-Type': 'application/xml' }, xml('NoSuchKey', 'Not found'));
    }
    const exp = Number(q.get('exp'));
    const sig = q.get('sig') ?? '';
    if (sig !== this._sign(url.pathname, q.get('file') ?? '', q.get('repo') ?? '', q.get('exp') ?? '')) {
      return this._send(ctx, 403, { ...cdnBase, 'Content-Type': 'application/xml' }, xml('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.'));
    }
    if (!(exp * 1000 > Date.now())) {
      return this._send(ctx, 403, { ...cdnBase, 'Content-Type': 'application/xml' }, xml('AccessDenied', 'Request has expired'));
    }
    const f = this.blobs.get(m[2]);
    if (!f) return this._send(ctx, 404, { ...cdnBase, 'Content-Type': 'application/xml' }, xml('NoSuchKey', 'The specified key does not exist.'));
    return this._serveContent(
      ctx,
      f.content,
      {
        ...cdnBase,
        'Content-Type': 'application/octet-stream',
        'Content-Disposition': contentDisposition(f.path),
        'Last-Modified': new Date(FIXED_DATE).toUTCString(),
        'Cache-Control': 'public, max-age=604800, immutable',
        Via: '1.1 fakecdn',
      },
      f.cdnEtag,
    );
  }

  // --- API -----------------------------------------------------------------------------------

  async _api(ctx, segs) {
    const { req } = ctx;
    if (segs[0] === 'whoami-v2') {
      if (await this._preFault(ctx, null)) return;
      const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
      const info = m && this.tokens.get(m[1]);
      if (!info) return this._hubError(ctx, 401, { message: 'Invalid username or password.', json: true });
      return this._json(ctx, 200, {
        type: 'user',
        id: createHash('sha1').update(info.name).digest('hex').slice(0, 24),
        name: info.name,
        fullname: info.name,
        email: null,
        emailVerified: false,
        canPay: false,
        isPro: false,
        periodEnd: null,
        avatarUrl: '',
        orgs: info.orgs.map((o) => ({ name: o, type: 'org' })),
        auth: { type: 'access_token', accessToken: { displayName: 'test', role: 'read' } },
      }, this._hubHeaders(ctx, 'api'));
    }
    if (segs[0] === 'agent-harnesses') {
      if (await this._preFault(ctx, null)) return;
      return this._json(ctx, 200, { harnesses: {}, standardEnvVars: [] }, this._hubHeaders(ctx, 'api'));
    }
    if (segs[0] === 'repos' && (segs[1] === 'create' || segs[1] === 'delete') && segs.length === 2) {
      if (await this._preFault(ctx, null)) return;
      return this._repoCreateDelete(ctx, segs[1]);
    }
    const type = { models: 'model', datasets: 'dataset', spaces: 'space' }[segs[0]];
    if (!type) {
      if (await this._preFault(ctx, null)) return;
      return this._notFoundRoute(ctx);
    }
    const rest = segs.slice(1);
    let mi = -1;
    for (let i = 1; i <= 2 && i < rest.length; i++) {
      if (API_MARKERS.has(rest[i])) {
        mi = i;
        break;
      }
    }
    const idSegs = mi < 0 ? rest : rest.slice(0, mi);
    if (idSegs.length < 1 || idSegs.length > 2) {
      if (await this._preFault(ctx, null)) return;
      return this._notFoundRoute(ctx);
    }
    const repoId = idSegs.map(safeDecode).join('/');
    const key = repoKey(type, repoId);
    const repo = this.repos.get(key);
    const marker = mi < 0 ? null : rest[mi];
    const after = mi < 0 ? [] : rest.slice(mi + 1);
    const ident = { repoKey: key, repoId, path: undefined, type, api: marker ?? 'info' };
    ctx.rec.file = ident;
    if (await this._preFault(ctx, ident)) return;

    const takeRev = (arr) => {
      if (arr[0] === 'refs' && ['pr', 'convert', 'heads', 'tags'].includes(arr[1]) && arr.length >= 3) {
        return [`refs/${arr[1]}/${safeDecode(arr[2])}`, arr.slice(3)];
      }
      return [safeDecode(arr[0] ?? ''), arr.slice(1)];
    };

    if (marker === 'commit' || marker === 'preupload') {
      if (req.method !== 'POST') return this._notFoundRoute(ctx);
      const [rev] = takeRev(after);
      return this._write(ctx, repo, marker, rev);
    }
    const denied = this._authorize(ctx, repo, { forFiles: marker === 'xet-read-token' || marker === 'auth-check', json: true });
    if (denied) return this._hubError(ctx, denied.status, denied);
    const hdrs = this._hubHeaders(ctx, 'api');
    const method = req.method;

    switch (marker) {
      case null:
      case 'revision': {
        if (method !== 'GET' && method !== 'HEAD') return this._notFoundRoute(ctx);
        const [rev] = marker ? takeRev(after) : ['main'];
        const commit = repo.resolveRevision(rev);
        if (!commit) return this._hubError(ctx, 404, { code: 'RevisionNotFound', message: `Invalid rev id: ${rev}`, json: true });
        return this._json(ctx, 200, this._repoInfo(repo, commit, ctx.url.searchParams), hdrs);
      }
      case 'tree': {
        if (method !== 'GET') return this._notFoundRoute(ctx);
        const [rev, pathSegs] = takeRev(after);
        const commit = repo.resolveRevision(rev);
        if (!commit) return this._hubError(ctx, 404, { code: 'RevisionNotFound', message: `Invalid rev id: ${rev}`, json: true });
        const sub = pathSegs.map(safeDecode).join('/').replace(/\/+$/, '');
        return this._tree(ctx, repo, commit, sub, hdrs);
      }
      case 'paths-info': {
        if (method !== 'POST') return this._notFoundRoute(ctx);
        const [rev] = takeRev(after);
        const commit = repo.resolveRevision(rev);
        if (!commit) return this._hubError(ctx, 404, { code: 'RevisionNotFound', message: `Invalid rev id: ${rev}`, json: true });
        const body = await readBody(req, 4 * 1024 * 1024);
        let paths = [];
        let expand = false;
        const ctype = req.headers['content-type'] ?? '';
        try {
          if (ctype.includes('application/json')) {
            const j = JSON.parse(body.toString('utf8') || '{}');
            paths = [].concat(j.paths ?? []);
            expand = j.expand === true || j.expand === 'true';
          } else {
            const p = new URLSearchParams(body.toString('utf8'));
            paths = p.getAll('paths');
            expand = p.get('expand') === 'true' || p.get('expand') === 'True' || p.get('expand') === '1';
          }
        } catch {
          return this._hubError(ctx, 400, { message: 'Invalid body', json: true });
        }
        const entries = this._entries(repo, commit);
        const out = [];
        for (const p of paths) {
          const e = entries.get(String(p).replace(/\/+$/, ''));
          if (e) out.push(this._entryJson(repo, commit, e, expand));
        }
        return this._json(ctx, 200, out, hdrs);
      }
      case 'refs': {
        const list = (m, prefix) => [...m].map(([name, c]) => ({ name, ref: `${prefix}${name}`, targetCommit: c }));
        const out = {
          branches: list(this._sorted(repo.branches), 'refs/heads/'),
          converts: list(this._sorted(repo.converts), 'refs/convert/'),
          tags: list(this._sorted(repo.tags), 'refs/tags/'),
        };
        if (['1', 'true', 'True'].includes(ctx.url.searchParams.get('include_prs'))) {
          out.pullRequests = [...repo.prs].map(([n, c]) => ({ name: `refs/pr/${n}`, ref: `refs/pr/${n}`, targetCommit: c }));
        }
        return this._json(ctx, 200, out, hdrs);
      }
      case 'commits': {
        const [rev] = takeRev(after);
        let commit = repo.resolveRevision(rev);
        if (!commit) return this._hubError(ctx, 404, { code: 'RevisionNotFound', message: `Invalid rev id: ${rev}`, json: true });
        const out = [];
        while (commit) {
          const c = repo.commits.get(commit);
          out.push({ id: c.sha, title: c.title, message: '', authors: [{ user: 'fakehub' }], date: c.date });
          commit = c.parent;
        }
        return this._json(ctx, 200, out, hdrs);
      }
      case 'xet-read-token': {
        const [rev] = takeRev(after);
        const commit = repo.resolveRevision(rev);
        if (!commit) return this._hubError(ctx, 404, { code: 'RevisionNotFound', message: `Invalid rev id: ${rev}`, json: true });
        const exp = Math.floor(Date.now() / 1000) + 3600;
        const tok = 'xet_' + randomBytes(16).toString('hex');
        return this._json(ctx, 200, { accessToken: tok, casUrl: this.cdnUrl, exp }, {
          ...hdrs,
          'X-Xet-Access-Token': tok,
          'X-Xet-Cas-Url': this.cdnUrl,
          'X-Xet-Token-Expiration': String(exp),
        });
      }
      case 'auth-check':
        return this._json(ctx, 200, { ok: true }, hdrs);
      default:
        return this._notFoundRoute(ctx);
    }
  }

  // --- writes (enough for the npm client's createRepo / uploadFile of regular files) --------------

  // null when the caller may write `repo` (tokens added with {write: true}), else an error.
  _authorizeWrite(ctx, repo) {
    const m = /^Bearer\s+(\S+)$/i.exec(ctx.req.headers.authorization ?? '');
    const info = m && this.tokens.get(m[1]);
    if (!info) return { status: 401, message: 'Invalid username or password.', json: true };
    if (repo && repo.private && !repo.readers.has(m[1]) && !info.write) return { status: 404, code: 'RepoNotFound', message: 'Repository not found', json: true };
    if (!info.write) return { status: 403, message: "You don't have the rights to write to this repository", json: true };
    return null;
  }

  async _repoCreateDelete(ctx, what) {
    const method = ctx.req.method;
    if ((what === 'create' && method !== 'POST') || (what === 'delete' && method !== 'DELETE')) return this._notFoundRoute(ctx);
    let j;
    try {
      j = JSON.parse((await readBody(ctx.req, 16 * 1024 * 1024)).toString('utf8') || '{}');
    } catch {
      return this._hubError(ctx, 400, { message: 'Invalid JSON body', json: true });
    }
    const denied = this._authorizeWrite(ctx, null);
    if (denied) return this._hubError(ctx, denied.status, denied);
    const type = j.type ?? 'model';
    if (!REPO_TYPES.has(type) || typeof j.name !== 'string') return this._hubError(ctx, 400, { message: 'Invalid repo', json: true });
    const id = j.organization ? `${j.organization}/${j.name}` : j.name;
    const key = repoKey(type, id);
    const hdrs = this._hubHeaders(ctx, 'api');
    if (what === 'delete') {
      if (!this.repos.has(key)) return this._hubError(ctx, 404, { code: 'RepoNotFound', message: 'Repository not found', json: true });
      this.repos.delete(key);
      return this._json(ctx, 200, {}, hdrs);
    }
    if (this.repos.has(key)) return this._hubError(ctx, 409, { message: `You already created this ${type} repo`, json: true, extra: {} });
    const files = (j.files ?? []).map((f) => ({ path: f.path, content: Buffer.from(f.content ?? '', f.encoding === 'base64' ? 'base64' : 'utf8') }));
    const repo = this.addRepo({ type, id, files, private: j.private === true || j.visibility === 'private' });
    repo.createdViaApi = true;
    return this._json(ctx, 200, { url: `${this.url}/${typePrefix(type)}${id}`, name: id, id: repo.objectId }, hdrs);
  }

  async _write(ctx, repo, marker, rev) {
    const body = await readBody(ctx.req, 64 * 1024 * 1024);
    if (!repo) {
      const m = /^Bearer\s+(\S+)$/i.exec(ctx.req.headers.authorization ?? '');
      if (!(m && this.tokens.has(m[1]))) return this._hubError(ctx, 401, { message: 'Invalid username or password.', json: true });
      return this._hubError(ctx, 404, { code: 'RepoNotFound', message: 'Repository not found', json: true });
    }
    const denied = this._authorizeWrite(ctx, repo);
    if (denied) return this._hubError(ctx, denied.status, denied);
    const hdrs = this._hubHeaders(ctx, 'api');
    const createPr = ['1', 'true', 'True'].includes(ctx.url.searchParams.get('create_pr'));
    if (!repo.branches.has(rev) && !createPr) {
      return this._hubError(ctx, 404, { code: 'RevisionNotFound', message: `Invalid rev id: ${rev}`, json: true });
    }
    if (marker === 'preupload') {
      let j;
      try {
        j = JSON.parse(body.toString('utf8'));
      } catch {
        return this._hubError(ctx, 400, { message: 'Invalid JSON body', json: true });
      }
      const files = (j.files ?? []).map((f) => ({ path: f.path, uploadMode: f.size >= 10 * 1024 * 1024 ? 'lfs' : 'regular', shouldIgnore: false }));
      return this._json(ctx, 200, { files, commitOid: repo.branches.get(rev) ?? repo.commit }, hdrs);
    }
    // commit: NDJSON {key: header|file|deletedFile|lfsFile, value}
    let header = {};
    const files = [];
    const remove = [];
    try {
      for (const line of body.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        const { key, value } = JSON.parse(line);
        if (key === 'header') header = value ?? {};
        else if (key === 'file') files.push({ path: value.path, content: Buffer.from(value.content ?? '', value.encoding === 'base64' ? 'base64' : 'utf8') });
        else if (key === 'deletedFile') remove.push(value.path);
        else return this._hubError(ctx, 422, { message: `fakehub: unsupported commit operation ${key}`, json: true });
      }
    } catch (e) {
      return this._hubError(ctx, 400, { message: `Invalid NDJSON body: ${e.message}`, json: true });
    }
    const base = repo.branches.get(rev) ?? repo.commit;
    if (header.parentCommit && header.parentCommit !== base) {
      return this._hubError(ctx, 412, { message: 'A commit has happened since. Please refresh and try again.', json: true });
    }
    let sha;
    try {
      sha = repo.addCommit({ base, files, remove, branch: createPr ? undefined : rev, title: header.summary });
    } catch (e) {
      return this._hubError(ctx, 400, { message: e.message, json: true });
    }
    const out = { success: true, commitOid: sha, commitUrl: `${this.url}/${typePrefix(repo.type)}${repo.id}/commit/${sha}`, commitMessage: header.summary ?? '', hookOutput: '' };
    if (createPr) {
      const n = Math.max(0, ...[...repo.prs.keys()].map(Number)) + 1;
      repo.setPr(n, sha);
      out.pullRequestUrl = `${this.url}/${typePrefix(repo.type)}${repo.id}/discussions/${n}`;
    }
    return this._json(ctx, 200, out, hdrs);
  }

  _sorted(m) {
    return [...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  _repoInfo(repo, commit, params) {
    const c = repo.commits.get(commit);
    const files = [...c.files.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
    const blobs = ['1', 'true', 'True'].includes(params.get('blobs'));
    const siblings = files.map((f) => {
      const s = { rfilename: f.path };
      if (blobs) {
        s.size = f.size;
        s.blobId = f.sha1;
        if (f.lfs) s.lfs = { sha256: f.sha256, size: f.size, pointerSize: f.pointer.length };
      }
      return s;
    });
    const full = {
      _id: repo.objectId,
      id: repo.id,
      ...(repo.type === 'model' ? { modelId: repo.id } : {}),
      author: repo.id.includes('/') ? repo.id.split('/')[0] : undefined,
      sha: commit,
      lastModified: c.date,
      createdAt: FIXED_DATE,
      private: repo.private,
      gated: repo.gated,
      disabled: repo.disabled,
      downloads: 0,
      likes: 0,
      tags: [],
      cardData: repo.cardData ?? {},
      siblings,
      usedStorage: files.reduce((a, f) => a + f.size, 0),
      ...(repo.type === 'model' ? { library_name: 'transformers', pipeline_tag: 'text-generation' } : {}),
      ...(repo.type === 'space' ? { sdk: 'static', runtime: { stage: 'RUNNING' } } : {}),
      ...(this.options.xet ? { xetEnabled: true } : {}),
    };
    const expand = [...params.getAll('expand'), ...params.getAll('expand[]')];
    if (!expand.length) return full;
    const out = { _id: full._id, id: full.id };
    for (const k of expand) if (k in full) out[k] = full[k];
    return out;
  }

  // path -> {kind:'file', file} | {kind:'dir', path} for every file and directory at a commit.
  _entries(repo, commit) {
    const c = repo.commits.get(commit);
    if (c._entries) return c._entries;
    const m = new Map();
    for (const f of c.files.values()) {
      m.set(f.path, { kind: 'file', path: f.path, file: f });
      const parts = f.path.split('/');
      for (let i = 1; i < parts.length; i++) {
        const d = parts.slice(0, i).join('/');
        if (!m.has(d)) m.set(d, { kind: 'dir', path: d });
      }
    }
    c._entries = m;
    return m;
  }

  _entryJson(repo, commit, e, expand) {
    const c = repo.commits.get(commit);
    if (e.kind === 'dir') {
      const oid = createHash('sha1').update(`tree:${commit}:${e.path}`).digest('hex');
      const o = { type: 'directory', oid, size: 0, path: e.path };
      if (expand) o.lastCommit = { id: commit, title: c.title, date: c.date };
      return o;
    }
    const f = e.file;
    const o = { type: 'file', oid: f.sha1, size: f.size, path: f.path };
    if (f.lfs) {
      o.lfs = { oid: f.sha256, size: f.size, pointerSize: f.pointer.length };
      if (this.options.xet) o.xetHash = f.xetHash;
    }
    if (expand) {
      o.lastCommit = { id: commit, title: c.title, date: c.date };
      o.securityFileStatus = { status: 'safe', avScan: { virusFound: false }, pickleImportScan: null };
    }
    return o;
  }

  _tree(ctx, repo, commit, sub, hdrs) {
    const params = ctx.url.searchParams;
    const recursive = ['1', 'true', 'True'].includes(params.get('recursive'));
    const expand = ['1', 'true', 'True'].includes(params.get('expand'));
    const entries = this._entries(repo, commit);
    if (sub !== '' && entries.get(sub)?.kind !== 'dir') {
      return this._hubError(ctx, 404, {
        code: 'EntryNotFound',
        message: `${sub} does not exist on "${commit}"`,
        json: true,
        extra: { 'X-Repo-Commit': commit },
      });
    }
    const prefix = sub === '' ? '' : sub + '/';
    let list = [...entries.values()].filter((e) => {
      if (!e.path.startsWith(prefix)) return false;
      const rest = e.path.slice(prefix.length);
      return recursive || !rest.includes('/');
    });
    // Directories first, then files; each by path.
    list.sort((a, b) => (a.kind !== b.kind ? (a.kind === 'dir' ? -1 : 1) : a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const pageSize = Number(params.get('limit')) || (expand ? this.options.treePageSizeExpand : this.options.treePageSize);
    const cursor = params.get('cursor');
    let offset = 0;
    if (cursor) {
      offset = Number(Buffer.from(cursor, 'base64url').toString('utf8').replace(/^offset:/, ''));
      if (!Number.isSafeInteger(offset) || offset < 0) return this._hubError(ctx, 400, { message: 'Invalid cursor', json: true });
    }
    const page = list.slice(offset, offset + pageSize).map((e) => this._entryJson(repo, commit, e, expand));
    const headers = { ...hdrs };
    if (offset + pageSize < list.length) {
      const next = new URLSearchParams(params);
      next.set('cursor', Buffer.from(`offset:${offset + pageSize}`).toString('base64url'));
      headers.Link = `<${this.url}${ctx.url.pathname}?${next}>; rel="next"`;
    }
    return this._json(ctx, 200, page, headers);
  }
}

function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let n = 0;
    req.on('data', (c) => {
      n += c.length;
      if (n > limit) {
        reject(new Error('body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// Starts a fake Hub (and its CDN). See FakeHub for options.
export async function startFakeHub(options = {}) {
  const hub = new FakeHub(options);
  await hub._listen();
  return hub;
}

// ---------------------------------------------------------------------------------------------
// CLI: node fakehub.mjs --port 0 --cdn-port 0 [--host 127.0.0.1] [--repo org/name] [--type model]
//      [--xet] [--no-branch-redirect] --fixture name:size[:lfs|regular] ...
// Fixtures are generated by offset (seeded by name), so a 1 GiB file costs little memory.
// Default storage: LFS when size >= 10 MiB (the Hub's git limit), else regular.

function parseArgs(argv) {
  const o = { port: 0, cdnPort: 0, host: '127.0.0.1', repo: 'bench/fixtures', type: 'model', fixtures: [], xet: false, branchRedirect: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--port': o.port = Number(val()); break;
      case '--cdn-port': o.cdnPort = Number(val()); break;
      case '--host': o.host = val(); break;
      case '--repo': o.repo = val(); break;
      case '--type': o.type = val(); break;
      case '--xet': o.xet = true; break;
      case '--no-branch-redirect': o.branchRedirect = false; break;
      case '--fixture': {
        const [name, size, kind] = val().split(':');
        const n = Number(size);
        if (!name || !Number.isSafeInteger(n) || n < 0) throw new Error(`bad fixture ${argv[i]}`);
        o.fixtures.push({ name, size: n, lfs: kind ? kind === 'lfs' : n >= 10 * 1024 * 1024 });
        break;
      }
      case '--help':
      case '-h':
        process.stdout.write('usage: fakehub.mjs [--port N] [--cdn-port N] [--host H] [--repo org/name] [--type model|dataset|space] [--xet] [--no-branch-redirect] --fixture name:size[:lfs|regular] ...\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${a}`);
    }
  }
  return o;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const hub = await startFakeHub({ host: o.host, port: o.port, cdnPort: o.cdnPort, xet: o.xet, redirectRegularAtBranch: o.branchRedirect });
  const files = o.fixtures.map((fx) => ({ path: fx.name, content: new GeneratedContent(`fixture:${fx.name}:${fx.size}`, fx.size), lfs: fx.lfs }));
  const repo = hub.addRepo({ type: o.type, id: o.repo, files });
  // Benchmarks must not grow memory with a request log.
  hub.on('response', () => {
    if (hub.requests.length > 10000) hub.requests.splice(0, hub.requests.length - 1000);
  });
  process.stdout.write(
    JSON.stringify({
      url: hub.url,
      cdnUrl: hub.cdnUrl,
      repo: repo.id,
      type: repo.type,
      commit: repo.commit,
      files: repo.files().map((f) => ({ ...f.describe(), url: `${hub.url}${repo.resolvePath(f.path)}` })),
    }) + '\n',
  );
  const stop = async () => {
    await hub.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => {
    process.stderr.write(`fakehub: ${e.message}\n`);
    process.exit(2);
  });
}
