#!/usr/bin/env bash
# hubgate load benchmark: the gateway (buffered and sendfile delivery) vs nginx as a caching
# reverse proxy vs the fake Hub/CDN itself, all on loopback, side by side in one run.
# See docs/benchmarks.md for what is measured and why.
#
#   bench/load/run.sh                                   # full run (~6 min on 2 cores)
#   BENCH_BIG_BYTES=67108864 BENCH_SECONDS=3 bench/load/run.sh   # quick smoke
#
# Environment (all optional):
#   HUBGATE_BIN        gateway binary (default build/hubgate; the script builds nothing)
#   BENCH_BIG_BYTES    size of the large (LFS, CDN-redirected) fixture   (default 1073741824)
#   BENCH_SMALL_BYTES  size of the small (regular) fixture               (default 1024)
#   BENCH_REPEAT       warm large-file GETs per target, median reported  (default 7)
#   BENCH_PARALLEL     concurrent large-file GETs in the parallel phase, 0 = skip (default 4)
#   BENCH_PARALLEL_ROUNDS  rounds of the parallel phase, median reported (default 3)
#   BENCH_SECONDS      duration of each wrk/hey run                      (default 10)
#   BENCH_CONNECTIONS  wrk connections (-c)                               (default 32)
#   BENCH_WRK_THREADS  wrk threads (-t)                                   (default 2)
#   BENCH_THREADS      gateway --threads and nginx worker_processes; 0 = one per core (default 0)
#   BENCH_TIMEOUT      hard limit for the whole run, seconds             (default 900)
#   BENCH_OUT          Markdown report (default bench/results/latest.md, git-ignored)
#   BENCH_KEEP_TMP=1   keep the temp dir (logs, configs) for inspection
#   BENCH_GATEWAY_IGNORE_SIGPIPE=1  start the gateways with SIGPIPE ignored (work-around for a
#                      gateway bug, see docs/benchmarks.md; the report says so)
#
# Output: a Markdown report on stdout and in BENCH_OUT; progress on stderr. Exit status 0 if
# every target answered correctly, 1 if something failed (the report still says what ran).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"

HUBGATE_BIN=${HUBGATE_BIN:-build/hubgate}
BIG=${BENCH_BIG_BYTES:-1073741824}
SMALL=${BENCH_SMALL_BYTES:-1024}
REPEAT=${BENCH_REPEAT:-7}
PARALLEL=${BENCH_PARALLEL:-4}
PAR_ROUNDS=${BENCH_PARALLEL_ROUNDS:-3}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-32}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
THREADS=${BENCH_THREADS:-0}
TIMEOUT=${BENCH_TIMEOUT:-900}
OUT=${BENCH_OUT:-bench/results/latest.md}
MODES=(buffered sendfile)
# Work-around switch: start the gateways with SIGPIPE ignored. A gateway that writes with
# sendfile(2) to a connection its client already closed is otherwise killed by SIGPIPE.
GW_IGNORE_SIGPIPE=${BENCH_GATEWAY_IGNORE_SIGPIPE:-0}

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; FAILURES+=("$*"); exit 1; }

for tool in node nginx wrk curl sha256sum awk pgrep; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/install-deps installs nginx-light, wrk, curl, procps)"
done
[[ -x $HUBGATE_BIN ]] || die "gateway binary '$HUBGATE_BIN' not found; build it or set HUBGATE_BIN"
for n in "$BIG" "$SMALL" "$REPEAT" "$PARALLEL" "$PAR_ROUNDS" "$SECONDS_PER_RUN" "$CONNS" "$WRK_THREADS" "$THREADS" "$TIMEOUT"; do
  [[ $n =~ ^[0-9]+$ ]] || die "numeric setting expected, got '$n'"
done
((BIG >= 1048576)) || die "BENCH_BIG_BYTES must be at least 1 MiB"
((SMALL >= 1)) || die "BENCH_SMALL_BYTES must be at least 1"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hubgate-bench.XXXXXX")
PIDS=()
FAILURES=()
WATCHDOG=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n $WATCHDOG ]]; then kill -TERM "$WATCHDOG" 2>/dev/null || true; wait "$WATCHDOG" 2>/dev/null || true; fi
  # After a failure keep the processes' logs next to the report (bench/results/ is git-ignored).
  if ((${#FAILURES[@]})) && [[ -d $TMP ]]; then
    local logs
    logs="$(dirname "$OUT")/logs"
    rm -rf "$logs" && mkdir -p "$logs"
    cp "$TMP"/*.out "$TMP"/*.err "$logs"/ 2>/dev/null || true
    cp "$TMP/nginx/error.log" "$logs/nginx-error.log" 2>/dev/null || true
    log "logs of the failed run copied to $logs"
  fi
  if [[ ${BENCH_KEEP_TMP:-0} == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# Hard limit: the watchdog stops the servers (so a client still talking to one ends at once)
# and TERMs this script, whose EXIT trap cleans up the rest.
(
  trap 'kill "$sp" 2>/dev/null; exit 0' TERM
  sleep "$TIMEOUT" & sp=$!
  wait "$sp"
  echo "[bench] hard limit of ${TIMEOUT}s reached, stopping" >&2
  # shellcheck disable=SC2046  # one pid per line
  kill -TERM $$ $(cat "$TMP/pids" 2>/dev/null) 2>/dev/null
) &
WATCHDOG=$!

# --- helpers ---------------------------------------------------------------------------------

# start NAME CMD...: runs CMD in the background with stdout/stderr in TMP/NAME.{out,err}.
# With IGNORE_SIGPIPE=1 in its environment, CMD starts with SIGPIPE ignored (inherited over exec).
start() {
  local name=$1
  shift
  if [[ ${IGNORE_SIGPIPE:-0} == 1 ]]; then
    (trap '' PIPE && exec "$@") >"$TMP/$name.out" 2>"$TMP/$name.err" &
  else
    "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  fi
  LAST_PID=$!
  PIDS+=("$LAST_PID")
  echo "$LAST_PID" >>"$TMP/pids"
}

# wait_line FILE REGEX PID SECONDS: waits until FILE has a line matching REGEX.
wait_line() {
  local file=$1 re=$2 pid=$3 secs=$4 i
  for ((i = 0; i < secs * 10; i++)); do
    grep -Eq "$re" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

alive() { kill -0 "$1" 2>/dev/null; }

# median of the arguments (numbers).
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{if(NR==0){print "nan"} else if(NR%2){print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }
calc() { awk "BEGIN{ $1 }"; }
# ratio A B -> "1.23x" (or "–")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.2fx", a/b; else printf "–" }'; }

CLK_TCK=$(getconf CLK_TCK)
# cpu_ticks PID...: user+system clock ticks of the processes (all their threads).
cpu_ticks() {
  local total=0 pid stat rest
  for pid in "$@"; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    rest=${stat##*) }
    # fields after "(comm) ": 1=state ... 12=utime 13=stime
    total=$((total + $(awk '{print $12 + $13}' <<<"$rest")))
  done
  echo "$total"
}
status_kb() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
reset_peak_rss() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }
nginx_workers() { { pgrep -P "$NGINX_PID" || true; } | tr '\n' ' '; }
# server_pids TARGET: the processes doing the serving for TARGET (nginx: its workers).
server_pids() {
  case $1 in
    direct) echo "$HUB_PID" ;;
    nginx) nginx_workers ;;
    gw-*) echo "${GW_PID[${1#gw-}]}" ;;
  esac
}
target_up() {
  case $1 in
    gw-*) alive "${GW_PID[${1#gw-}]}" ;;
    nginx) alive "$NGINX_PID" ;;
    direct) alive "$HUB_PID" ;;
  esac
}
# metric GATEWAY_URL NAME: sum of a Prometheus counter over its label sets.
metric() {
  { curl -s --max-time 5 "$1/metrics" || true; } | awk -v n="$2" '$1==n || index($1, n"{")==1 {s+=$2} END{printf "%.0f\n", s}'
}

fail() { FAILURES+=("$*"); log "FAIL: $*"; }

# --- machine -----------------------------------------------------------------------------------

CPU_MODEL=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
[[ -n $CPU_MODEL ]] || CPU_MODEL=$(uname -m)
MEM_GIB=$(awk '/^MemTotal/{printf "%.1f", $2/1048576}' /proc/meminfo)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]]; then REV="$REV+dirty"; fi
NPROC=$(nproc)
WORKERS=$THREADS
((WORKERS > 0)) || WORKERS=$NPROC
log "machine: $NPROC cores, $CPU_MODEL, load $LOAD_START"

# --- fake Hub ----------------------------------------------------------------------------------

log "starting the fake Hub (big=$BIG bytes, small=$SMALL bytes)"
start fakehub node tests/fakehub/fakehub.mjs --port 0 --cdn-port 0 \
  --fixture "big:$BIG:lfs" --fixture "small:$SMALL:regular"
HUB_PID=$LAST_PID
wait_line "$TMP/fakehub.out" '^\{' "$HUB_PID" 300 || { cat "$TMP/fakehub.err" >&2; die "fake Hub did not start"; }
hubinfo() { node -e 'const h=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8").split("\n")[0]); const v=(new Function("h","return "+process.argv[2]))(h); console.log(v)' "$TMP/fakehub.out" "$1"; }
HUB_URL=$(hubinfo h.url)
HUB_HOSTPORT=${HUB_URL#http://}
REPO=$(hubinfo h.repo)
COMMIT=$(hubinfo h.commit)
BIG_SHA=$(hubinfo 'h.files.find(f=>f.path==="big").sha256')
SMALL_SHA=$(hubinfo 'h.files.find(f=>f.path==="small").sha256')
log "fake Hub at $HUB_URL, repo $REPO @ $COMMIT"

# The direct baseline: the signed CDN URL the Hub redirects the big file to.
CDN_BIG_URL=$(curl -s -o /dev/null --max-time 10 -w '%{redirect_url}' "$HUB_URL/$REPO/resolve/$COMMIT/big")
[[ $CDN_BIG_URL == http://* ]] || die "the fake Hub did not redirect the big file to its CDN"

# --- gateways ----------------------------------------------------------------------------------

declare -A GW_PID GW_URL GW_RSS_IDLE GW_HWM_COLD GW_HWM_WARM
# "nottl" is a third, buffered gateway with --revision-ttl 0: it asks the Hub for a branch's
# metadata on every request, which is what every request to `main` costs when the revision cache
# has expired. It is only used for the small-file rows at `main`.
for mode in "${MODES[@]}" nottl; do
  mkdir -p "$TMP/cache-$mode"
  extra=(--delivery "$mode")
  [[ $mode == nottl ]] && extra=(--delivery buffered --revision-ttl 0s)
  IGNORE_SIGPIPE=$GW_IGNORE_SIGPIPE start "gw-$mode" "$HUBGATE_BIN" serve --listen 127.0.0.1:0 --upstream "$HUB_URL" \
    --cache-dir "$TMP/cache-$mode" "${extra[@]}" --threads "$THREADS" --log-level warn
  GW_PID[$mode]=$LAST_PID
  if ! wait_line "$TMP/gw-$mode.out" '^hubgate listening on http://' "$LAST_PID" 30; then
    cat "$TMP/gw-$mode.err" >&2
    die "gateway ($mode) did not start"
  fi
  GW_URL[$mode]=$(sed -n 's/^hubgate listening on \(http:[^ ]*\).*/\1/p' "$TMP/gw-$mode.out" | head -1)
  sleep 0.2
  GW_RSS_IDLE[$mode]=$(status_kb "$LAST_PID" VmRSS)
  log "gateway ($mode) at ${GW_URL[$mode]}"
done
GW_VERSION=$("$HUBGATE_BIN" version 2>/dev/null | head -1 || echo unknown)

# --- nginx -------------------------------------------------------------------------------------

NGX=$TMP/nginx
free_port() { node -e 'const s=require("net").createServer(); s.listen(0,"127.0.0.1",()=>{console.log(s.address().port); s.close();})'; }
USER_DIRECTIVE=
((EUID == 0)) && USER_DIRECTIVE='user root root;'  # workers must reach the 0700 temp dir
NGINX_PID=
for attempt in 1 2 3; do
  rm -rf "$NGX" && mkdir -p "$NGX"
  NGINX_PORT=$(free_port)
  sed -e "s|@PREFIX@|$NGX|g" -e "s|@LISTEN@|127.0.0.1:$NGINX_PORT|g" -e "s|@HUB_HOSTPORT@|$HUB_HOSTPORT|g" \
    -e "s|@WORKERS@|$WORKERS|g" -e "s|@USER_DIRECTIVE@|$USER_DIRECTIVE|g" \
    "$HERE/nginx.conf.in" >"$NGX/nginx.conf"
  start nginx nginx -p "$NGX" -e "$NGX/error.log" -c "$NGX/nginx.conf" -g 'daemon off;'
  NGINX_PID=$LAST_PID
  ok=0
  for _ in $(seq 50); do
    alive "$NGINX_PID" || break
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$NGINX_PORT/"; then ok=1; break; fi
    sleep 0.1
  done
  ((ok)) && break
  log "nginx did not start (attempt $attempt): $(tail -n 2 "$NGX/error.log" 2>/dev/null | tr '\n' ' ')"
  kill -TERM "$NGINX_PID" 2>/dev/null || true
  wait "$NGINX_PID" 2>/dev/null || true
  ((attempt < 3)) || die "nginx did not start"
done
NGINX_URL=http://127.0.0.1:$NGINX_PORT
NGINX_VERSION=$(nginx -v 2>&1 | sed 's/^nginx version: //')
log "nginx ($NGINX_VERSION, $WORKERS workers) at $NGINX_URL"

TARGETS=(gw-buffered gw-sendfile nginx)
base_url() {
  case $1 in
    gw-*) echo "${GW_URL[${1#gw-}]}" ;;
    nginx) echo "$NGINX_URL" ;;
    direct) echo "$HUB_URL" ;;
  esac
}
label() {
  case $1 in
    gw-buffered) echo "hubgate buffered" ;;
    gw-sendfile) echo "hubgate sendfile" ;;
    gw-nottl) echo "hubgate buffered, revision TTL 0" ;;
    nginx) echo "nginx proxy_cache" ;;
    direct) echo "direct (fake Hub/CDN)" ;;
  esac
}
big_url() { if [[ $1 == direct ]]; then echo "$CDN_BIG_URL"; else echo "$(base_url "$1")/$REPO/resolve/$COMMIT/big"; fi; }

# fetch_sha URL: GET URL, print "HTTP_CODE BYTES SECONDS SHA256".
fetch_sha() {
  local w sum
  sum=$(curl -sS --max-time 600 -w '%{stderr}CURLW %{http_code} %{size_download} %{time_total}\n' "$1" 2>"$TMP/curl.err" | sha256sum | cut -d' ' -f1) || true
  w=$(sed -n 's/^CURLW //p' "$TMP/curl.err" | tail -1)
  echo "${w:-000 0 0} $sum"
}

# --- warm-up (cold fills) and correctness --------------------------------------------------------

declare -A COLD_S COLD_OK COLD_CPU
CHECKS=()
for t in "${TARGETS[@]}"; do
  if ! target_up "$t"; then fail "$(label "$t"): not running before the warm-up"; continue; fi
  log "warm-up through $(label "$t")"
  read -ra pids <<<"$(server_pids "$t")"
  c0=$(cpu_ticks "${pids[@]}")
  read -r code bytes secs sum <<<"$(fetch_sha "$(big_url "$t")")"
  c1=$(cpu_ticks "${pids[@]}")
  if [[ $code == 200 && $bytes == "$BIG" && $sum == "$BIG_SHA" ]]; then
    COLD_S[$t]=$secs
    COLD_CPU[$t]=$(calc "printf \"%.2f\", ($c1 - $c0) / $CLK_TCK / ($BIG / 1073741824)")
    COLD_OK[$t]=1
  else
    fail "$(label "$t"): cold GET of big: HTTP $code, $bytes bytes, sha256 ${sum:0:16}… (want 200, $BIG, ${BIG_SHA:0:16}…)$(target_up "$t" || echo ', process died')"
  fi
  for rev in "$COMMIT" main; do
    read -r code bytes secs sum <<<"$(fetch_sha "$(base_url "$t")/$REPO/resolve/$rev/small")"
    [[ $code == 200 && $sum == "$SMALL_SHA" ]] || fail "$(label "$t"): GET small at ${rev:0:7}: HTTP $code, sha256 ${sum:0:16}…"
  done
  if [[ $t == gw-* ]] && target_up "$t"; then
    GW_HWM_COLD[${t#gw-}]=$(status_kb "${GW_PID[${t#gw-}]}" VmHWM)
  fi
done
COLD_BIG_SHA_OK=1
for t in "${TARGETS[@]}"; do [[ -n ${COLD_OK[$t]:-} ]] || COLD_BIG_SHA_OK=0; done

if target_up gw-nottl; then
  for rev in "$COMMIT" main; do
    read -r code bytes secs sum <<<"$(fetch_sha "${GW_URL[nottl]}/$REPO/resolve/$rev/small")"
    [[ $code == 200 && $sum == "$SMALL_SHA" ]] || fail "$(label gw-nottl): GET small at ${rev:0:7}: HTTP $code, sha256 ${sum:0:16}…"
  done
else
  fail "$(label gw-nottl): not running before the warm-up"
fi

# Warm reads: the cached copy must be served, byte-exact, without upstream traffic.
sleep 1
NGINX_MISSES_WARMUP=$(wc -l <"$NGX/miss.log" 2>/dev/null || echo 0)
declare -A UP_BYTES0 HITS0
for mode in "${MODES[@]}"; do
  t=gw-$mode
  target_up "$t" || continue
  UP_BYTES0[$mode]=$(metric "${GW_URL[$mode]}" hubgate_upstream_body_bytes_total)
  HITS0[$mode]=$(metric "${GW_URL[$mode]}" hubgate_cache_hits_total)
done
for t in "${TARGETS[@]}"; do
  target_up "$t" || continue
  read -r code bytes secs sum <<<"$(fetch_sha "$(big_url "$t")")"
  if [[ $code == 200 && $sum == "$BIG_SHA" ]]; then
    CHECKS+=("$(label "$t"): warm GET of big is byte-exact (sha256 matches the fixture)")
  else
    fail "$(label "$t"): warm GET of big: HTTP $code, $bytes bytes, sha256 ${sum:0:16}…"
  fi
done
cache_status() { { curl -s -o /dev/null --max-time 10 -D - "$1" || true; } | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache-status"{print $2}'; }
for path in "$COMMIT/big" "$COMMIT/small" main/small; do
  hdr=$(cache_status "$NGINX_URL/$REPO/resolve/$path")
  what="${path%%/*}"; what="${path#*/} @ ${what:0:7}"
  if [[ $hdr == HIT ]]; then
    CHECKS+=("nginx: X-Cache-Status HIT for $what")
  else
    fail "nginx: X-Cache-Status '$hdr' for $what (want HIT)"
  fi
done
NGX_CACHED_BYTES=$(du -sb "$NGX/cache" 2>/dev/null | cut -f1 || echo 0)
if ((NGX_CACHED_BYTES >= BIG)); then
  CHECKS+=("nginx: cache directory holds $NGX_CACHED_BYTES bytes (>= the big file)")
else
  fail "nginx: cache directory holds only $NGX_CACHED_BYTES bytes"
fi
for mode in "${MODES[@]}"; do
  t=gw-$mode
  target_up "$t" || continue
  up=$(metric "${GW_URL[$mode]}" hubgate_upstream_body_bytes_total)
  hits=$(metric "${GW_URL[$mode]}" hubgate_cache_hits_total)
  if ((up == UP_BYTES0[$mode] && hits > HITS0[$mode])); then
    CHECKS+=("$(label "$t"): warm GET counted as a cache hit, 0 upstream body bytes")
  else
    fail "$(label "$t"): warm GET: cache hits ${HITS0[$mode]} -> $hits, upstream body bytes ${UP_BYTES0[$mode]} -> $up"
  fi
done

# --- warm large-file throughput -------------------------------------------------------------------

BIG_TARGETS=(direct "${TARGETS[@]}")
declare -A SPEEDS BIG_ERR
for t in "${BIG_TARGETS[@]}"; do SPEEDS[$t]=""; done
for mode in "${MODES[@]}"; do alive "${GW_PID[$mode]}" && reset_peak_rss "${GW_PID[$mode]}"; done
NGX_HWM_WARM=0
for w in $(nginx_workers); do reset_peak_rss "$w"; done
log "warm large-file GETs: $REPEAT rounds x ${#BIG_TARGETS[@]} targets"
declare -A CPU_BIG
for t in "${BIG_TARGETS[@]}"; do CPU_BIG[$t]=0; done
for ((r = 1; r <= REPEAT; r++)); do
  for t in "${BIG_TARGETS[@]}"; do
    target_up "$t" || continue
    [[ $t == direct || -n ${COLD_OK[$t]:-} ]] || continue
    read -ra pids <<<"$(server_pids "$t")"
    c0=$(cpu_ticks "${pids[@]}")
    out=$(curl -s -o /dev/null --max-time 600 -w '%{speed_download} %{size_download} %{http_code}' "$(big_url "$t")") || true
    read -r speed bytes code <<<"${out:-0 0 000}"
    c1=$(cpu_ticks "${pids[@]}")
    if [[ $code == 200 && $bytes == "$BIG" ]]; then
      SPEEDS[$t]+="$speed "
      CPU_BIG[$t]=$((CPU_BIG[$t] + c1 - c0))
    else
      BIG_ERR[$t]=1
      fail "$(label "$t"): warm GET of big, round $r: HTTP $code, $bytes bytes"
    fi
  done
done
for mode in "${MODES[@]}"; do
  alive "${GW_PID[$mode]}" && GW_HWM_WARM[$mode]=$(status_kb "${GW_PID[$mode]}" VmHWM)
done
for w in $(nginx_workers); do
  h=$(status_kb "$w" VmHWM)
  ((h > NGX_HWM_WARM)) && NGX_HWM_WARM=$h
done

# --- parallel large-file GETs -----------------------------------------------------------------------

# PARALLEL concurrent curl downloads of the big file per round: aggregate throughput, and server
# CPU, when the server has to share the cores with several clients.
declare -A PAR_SPEEDS PAR_CPU
if ((PARALLEL > 1)); then
  log "parallel large-file GETs: $PAR_ROUNDS rounds x ${#TARGETS[@]} targets x $PARALLEL clients"
  for ((r = 1; r <= PAR_ROUNDS; r++)); do
    for t in "${TARGETS[@]}"; do
      if ! target_up "$t" || [[ -z ${COLD_OK[$t]:-} ]]; then continue; fi
      read -ra pids <<<"$(server_pids "$t")"
      c0=$(cpu_ticks "${pids[@]}")
      t0=$(date +%s.%N)
      cpids=()
      for ((i = 1; i <= PARALLEL; i++)); do
        curl -s -o /dev/null --max-time 600 -w '%{http_code} %{size_download}\n' "$(big_url "$t")" >"$TMP/par.$i" 2>/dev/null &
        cpids+=($!)
      done
      for p in "${cpids[@]}"; do wait "$p" || true; done
      t1=$(date +%s.%N)
      c1=$(cpu_ticks "${pids[@]}")
      ok=1
      for ((i = 1; i <= PARALLEL; i++)); do
        [[ $(cat "$TMP/par.$i" 2>/dev/null) == "200 $BIG" ]] || ok=0
      done
      if ((ok)); then
        PAR_SPEEDS[$t]+="$(calc "printf \"%.0f\", $PARALLEL * $BIG / ($t1 - $t0)") "
        PAR_CPU[$t]=$((${PAR_CPU[$t]:-0} + c1 - c0))
      else
        fail "$(label "$t"): $PARALLEL parallel GETs of big, round $r: $(cat "$TMP"/par.* | tr '\n' ' ')"
      fi
    done
  done
fi
for mode in "${MODES[@]}"; do
  alive "${GW_PID[$mode]}" && GW_HWM_WARM[$mode]=$(status_kb "${GW_PID[$mode]}" VmHWM)
done
for w in $(nginx_workers); do
  h=$(status_kb "$w" VmHWM)
  ((h > NGX_HWM_WARM)) && NGX_HWM_WARM=$h
done

# --- small-file request rates (wrk for GET, hey for HEAD) ---------------------------------------

# Each prints one normalized line: requests= rps= p50_us= p99_us= errors= detail=
# wrk 4.1 cannot do HEAD (its parser waits for the Content-Length body after a HEAD response and
# the connection stalls), so HEAD rows use hey, which is heavier per request: compare HEAD rows
# with each other, not with GET rows.
run_wrk() {
  local out
  out=$(timeout $((SECONDS_PER_RUN + 60)) wrk -t"$WRK_THREADS" -c"$CONNS" -d"${SECONDS_PER_RUN}s" --timeout 5s \
    -s "$HERE/report.lua" "$1" 2>&1 | sed -n 's/^WRK_RESULT //p') || true
  [[ -n $out ]] || return 0
  awk '{
    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    e = v["err_connect"] + v["err_read"] + v["err_write"] + v["err_status"] + v["err_timeout"]
    printf "requests=%d rps=%.1f p50_us=%d p99_us=%d errors=%d detail=connect:%d,read:%d,write:%d,status>399:%d,timeout:%d\n",
      v["requests"], v["rps"], v["p50_us"], v["p99_us"], e,
      v["err_connect"], v["err_read"], v["err_write"], v["err_status"], v["err_timeout"]
  }' <<<"$out"
}
run_hey() {
  local out
  out=$(timeout $((SECONDS_PER_RUN + 60)) hey -z "${SECONDS_PER_RUN}s" -c "$CONNS" -t 5 -m "$1" \
    -disable-redirects -disable-compression "$2" 2>&1) || true
  awk '
    /Requests\/sec:/ { rps = $2 }
    /^ *50% in/ { p50 = $3 * 1e6 }
    /^ *99% in/ { p99 = $3 * 1e6 }
    /^Status code distribution/ { sec = "status"; next }
    /^Error distribution/ { sec = "error"; next }
    sec == "status" && /^ *\[[0-9]+\]/ { c = $1; gsub(/[^0-9]/, "", c); n += $2; if (c !~ /^2/) bad += $2 }
    sec == "error" && /^ *\[[0-9]+\]/ { c = $1; gsub(/[^0-9]/, "", c); errs += c }
    END {
      if (rps == "") exit
      printf "requests=%d rps=%.1f p50_us=%d p99_us=%d errors=%d detail=non-2xx:%d,client-errors:%d\n",
        n, rps, p50, p99, bad + errs, bad, errs
    }' <<<"$out"
}
HAVE_HEY=0
HEY_VERSION=missing
if command -v hey >/dev/null; then
  HAVE_HEY=1
  HEY_VERSION=$(dpkg-query -W -f '${Version}' hey 2>/dev/null || echo "(version unknown)")
fi

# Rows: "METHOD REV TARGET". Pinned first (pure cache hits everywhere), then main.
ROWS=()
for m in GET HEAD; do
  ROWS+=("$m commit direct")
  for t in "${TARGETS[@]}"; do ROWS+=("$m commit $t"); done
done
for m in GET HEAD; do for t in "${TARGETS[@]}" gw-nottl; do ROWS+=("$m main $t"); done; done
declare -A RPS P50 P99 ERRS CPUREQ UPSTREAM
((HAVE_HEY)) || log "hey not found: HEAD rows are skipped (apt-get install hey)"
log "small-file rates: ${#ROWS[@]} runs x ${SECONDS_PER_RUN}s, $CONNS connections"
for row in "${ROWS[@]}"; do
  read -r m rev t <<<"$row"
  key="$m $rev $t"
  if [[ $m == HEAD ]] && ((!HAVE_HEY)); then ERRS[$key]="no hey"; continue; fi
  if ! target_up "$t"; then ERRS[$key]="down"; continue; fi
  revpath=main
  [[ $rev == commit ]] && revpath=$COMMIT
  url="$(base_url "$t")/$REPO/resolve/$revpath/small"
  read -ra pids <<<"$(server_pids "$t")"
  miss0=$(wc -l <"$NGX/miss.log" 2>/dev/null || echo 0)
  c0=$(cpu_ticks "${pids[@]}")
  if [[ $m == GET ]]; then res=$(run_wrk "$url"); else res=$(run_hey HEAD "$url"); fi
  c1=$(cpu_ticks "${pids[@]}")
  miss1=$(wc -l <"$NGX/miss.log" 2>/dev/null || echo 0)
  unset kv
  declare -A kv=()
  for f in $res; do kv[${f%%=*}]=${f#*=}; done
  if [[ -z $res || ${kv[requests]:-0} == 0 ]]; then
    ERRS[$key]="no result"
    fail "$m small @ $rev via $(label "$t"): the load generator completed no request"
    continue
  fi
  RPS[$key]=${kv[rps]}
  P50[$key]=$(calc "printf \"%.2f\", ${kv[p50_us]}/1000")
  P99[$key]=$(calc "printf \"%.2f\", ${kv[p99_us]}/1000")
  ERRS[$key]=${kv[errors]}
  ((kv[errors] == 0)) || fail "$m small @ $rev via $(label "$t"): ${kv[errors]} errors of ${kv[requests]} (${kv[detail]})"
  CPUREQ[$key]=$(calc "printf \"%.0f\", ($c1 - $c0) * 1e6 / $CLK_TCK / ${kv[requests]}")
  [[ $t != nginx ]] || UPSTREAM[$key]=$((miss1 - miss0))
  target_up "$t" || fail "$(label "$t") died during $m small @ $rev"
done

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# A gateway that died: say how (exit status or signal) and what it last wrote on stderr.
for mode in "${MODES[@]}" nottl; do
  pid=${GW_PID[$mode]}
  alive "$pid" && continue
  rc=0
  wait "$pid" 2>/dev/null || rc=$?
  how="exited with status $rc"
  if ((rc > 128)); then how="killed by signal $((rc - 128)) (SIG$(kill -l $((rc - 128)) 2>/dev/null || echo '?'))"; fi
  last=$({ grep -v '^[[:space:]]*$' "$TMP/gw-$mode.err" 2>/dev/null || true; } | tail -n 3 | tr '\n' ' ' | cut -c1-400)
  fail "hubgate $mode process $how; last stderr: ${last:-(none)}"
done

# --- report ------------------------------------------------------------------------------------

mib() { awk -v b="$1" 'BEGIN{printf "%.0f", b/1048576}'; }
human_bytes() { awk -v b="$1" 'BEGIN{ if (b >= 1073741824) printf "%.0f GiB", b/1073741824; else if (b >= 1048576) printf "%.0f MiB", b/1048576; else if (b >= 1024) printf "%.0f KiB", b/1024; else printf "%d B", b }'; }
declare -A MED
for t in "${BIG_TARGETS[@]}"; do
  # shellcheck disable=SC2086
  [[ -n ${SPEEDS[$t]} ]] && MED[$t]=$(median ${SPEEDS[$t]}) || MED[$t]=0
done

# cpu_per_gib TARGET: server CPU seconds per GiB over the warm large GETs.
cpu_per_gib() {
  local n
  n=$(wc -w <<<"${SPEEDS[$1]:-}")
  awk -v c="${CPU_BIG[$1]:-0}" -v hz="$CLK_TCK" -v n="$n" -v b="$BIG" 'BEGIN{ if (n > 0) printf "%.2f", (c/hz) / (n*b/1073741824) }'
}

report() {
  echo "## hubgate load benchmark — $DATE"
  echo
  echo "- machine: $NPROC × $CPU_MODEL, $MEM_GIB GiB RAM, Linux $(uname -r)"
  echo "- load average (1/5/15 min): $LOAD_START at start, $LOAD_END at end"
  echo "- hubgate: $GW_VERSION (tree $REV), --threads $THREADS; $NGINX_VERSION, $WORKERS workers; $(wrk --version 2>&1 | head -1 | awk '{print $1, $2}'); hey $HEY_VERSION; curl $(curl --version | head -1 | awk '{print $2}'); node $(node --version)"
  if [[ $GW_IGNORE_SIGPIPE == 1 ]]; then
    echo "- the gateways were started with SIGPIPE ignored (BENCH_GATEWAY_IGNORE_SIGPIPE=1)"
  fi
  echo "- fixtures: big = $(human_bytes "$BIG") (LFS, 302 to the fake CDN), small = $(human_bytes "$SMALL") (regular file)"
  echo
  echo "### Warm large-file GET ($(human_bytes "$BIG"), commit-pinned URL, one curl connection, median of $REPEAT)"
  echo
  echo "| target | MiB/s (median) | range | vs nginx | vs direct | server CPU s/GiB | cold fill (1 sample) |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for t in "${BIG_TARGETS[@]}"; do
    local med=${MED[$t]} range="–" cpu="–" cold="–"
    if [[ -n ${SPEEDS[$t]} ]]; then
      # shellcheck disable=SC2086
      range=$(printf '%s\n' ${SPEEDS[$t]} | awk '{printf "%.0f\n", $1/1048576}' | sort -g | awk 'NR==1{lo=$1} {hi=$1} END{print lo "–" hi}')
      cpu=$(cpu_per_gib "$t")
    fi
    [[ -n ${COLD_S[$t]:-} ]] && cold=$(awk -v s="${COLD_S[$t]}" -v b="$BIG" -v c="${COLD_CPU[$t]}" 'BEGIN{printf "%.0f MiB/s, %.2f CPU s/GiB", b/1048576/s, c}')
    local vs_n="–" vs_d="–"
    [[ $t != nginx ]] && vs_n=$(ratio "$med" "${MED[nginx]}")
    [[ $t != direct ]] && vs_d=$(ratio "$med" "${MED[direct]}")
    [[ -n ${BIG_ERR[$t]:-} ]] && range="$range (errors)"
    local shown=failed
    [[ $med == 0 ]] || shown=$(mib "$med")
    echo "| $(label "$t") | $shown | $range | $vs_n | $vs_d | $cpu | $cold |"
  done
  if ((PARALLEL > 1)); then
    echo
    echo "### Parallel large-file GETs ($PARALLEL concurrent curl downloads of the $(human_bytes "$BIG") file, aggregate, median of $PAR_ROUNDS)"
    echo
    echo "| target | aggregate MiB/s (median) | range | vs nginx | server CPU s/GiB |"
    echo "|---|---:|---:|---:|---:|"
    local pm
    declare -A PMED=()
    for t in "${TARGETS[@]}"; do
      # shellcheck disable=SC2086
      if [[ -n ${PAR_SPEEDS[$t]:-} ]]; then PMED[$t]=$(median ${PAR_SPEEDS[$t]}); else PMED[$t]=0; fi
    done
    for t in "${TARGETS[@]}"; do
      pm=${PMED[$t]}
      if [[ $pm == 0 ]]; then echo "| $(label "$t") | failed | – | – | – |"; continue; fi
      local prange pcpu pn
      # shellcheck disable=SC2086
      prange=$(printf '%s\n' ${PAR_SPEEDS[$t]} | awk '{printf "%.0f\n", $1/1048576}' | sort -g | awk 'NR==1{lo=$1} {hi=$1} END{print lo "–" hi}')
      pn=$(wc -w <<<"${PAR_SPEEDS[$t]}")
      pcpu=$(awk -v c="${PAR_CPU[$t]:-0}" -v hz="$CLK_TCK" -v n="$((pn * PARALLEL))" -v b="$BIG" 'BEGIN{printf "%.2f", (c/hz) / (n*b/1073741824)}')
      local pvs="–"
      [[ $t == nginx ]] || pvs=$(ratio "$pm" "${PMED[nginx]}")
      echo "| $(label "$t") | $(mib "$pm") | $prange | $pvs | $pcpu |"
    done
    PAR_SF_VS_BUF=$(ratio "${PMED[gw-sendfile]}" "${PMED[gw-buffered]}")
  fi
  echo
  echo "### Small-file request rate ($(human_bytes "$SMALL"), $CONNS connections, ${SECONDS_PER_RUN}s per row; GET: wrk -t$WRK_THREADS, HEAD: hey)"
  echo
  echo "\`commit\` = \`/{repo}/resolve/{commit}/small\` (the gateway answers from its cache without asking upstream);"
  echo "\`main\` = \`/{repo}/resolve/main/small\`: the gateway reuses a branch → commit answer for \`hub.revision_ttl\` (30 s"
  echo "by default), so its \`main\` rows ask the Hub about once per 30 s; the \`revision TTL 0\` rows ask it on every request"
  echo "(a HEAD, plus the Hub's 307 to \`/api/resolve-cache\` for a regular file). nginx caches the URL blindly for 1 h, so"
  echo "for nginx both rows are pure cache hits."
  echo "HEAD rows are measured with hey, which costs more client CPU per request than wrk: compare HEAD rows with"
  echo "each other, not with GET rows. \"(n upstream)\" = requests nginx forwarded to the fake Hub during the row."
  echo
  echo "| request | target | req/s | p50 ms | p99 ms | errors | server CPU µs/req | req/s vs nginx | p99 vs nginx |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
  local row m rev t key nkey
  for row in "${ROWS[@]}"; do
    read -r m rev t <<<"$row"
    key="$m $rev $t"
    nkey="$m $rev nginx"
    local rps=${RPS[$key]:-} vs="–" p99vs="–"
    if [[ $t != nginx && $t != direct && -n $rps ]]; then
      vs=$(ratio "$rps" "${RPS[$nkey]:-}")
      p99vs=$(ratio "${P99[$key]}" "${P99[$nkey]:-}")
    fi
    local up=""
    [[ -n ${UPSTREAM[$key]:-} ]] && up=" (${UPSTREAM[$key]} upstream)"
    echo "| $m $rev | $(label "$t") | $([[ -n $rps ]] && printf '%.0f' "$rps" || echo "–") | ${P50[$key]:-–} | ${P99[$key]:-–} | ${ERRS[$key]:-–}$up | ${CPUREQ[$key]:-–} | $vs | $p99vs |"
  done
  echo
  echo "sendfile vs buffered: large GET throughput $(ratio "${MED[gw-sendfile]}" "${MED[gw-buffered]}") (parallel: ${PAR_SF_VS_BUF:-–}), server CPU per GiB $(ratio "$(cpu_per_gib gw-sendfile)" "$(cpu_per_gib gw-buffered)");" \
    "GET commit req/s $(ratio "${RPS[GET commit gw-sendfile]:-}" "${RPS[GET commit gw-buffered]:-}"), p99 $(ratio "${P99[GET commit gw-sendfile]:-}" "${P99[GET commit gw-buffered]:-}");" \
    "HEAD commit req/s $(ratio "${RPS[HEAD commit gw-sendfile]:-}" "${RPS[HEAD commit gw-buffered]:-}") (> 1 = sendfile higher)"
  echo
  echo "### Gateway memory (VmRSS / VmHWM from /proc)"
  echo
  echo "| process | RSS idle | peak RSS incl. cold fill | peak RSS during warm large GETs (single + parallel) |"
  echo "|---|---:|---:|---:|"
  local mode
  for mode in "${MODES[@]}"; do
    echo "| hubgate $mode | $(awk -v k="${GW_RSS_IDLE[$mode]:-0}" 'BEGIN{printf "%.1f MiB", k/1024}') | $([[ -n ${GW_HWM_COLD[$mode]:-} ]] && awk -v k="${GW_HWM_COLD[$mode]}" 'BEGIN{printf "%.1f MiB", k/1024}' || echo –) | $([[ -n ${GW_HWM_WARM[$mode]:-} ]] && awk -v k="${GW_HWM_WARM[$mode]}" 'BEGIN{printf "%.1f MiB", k/1024}' || echo –) |"
  done
  echo "| nginx (largest worker) | | | $(awk -v k="$NGX_HWM_WARM" 'BEGIN{printf "%.1f MiB", k/1024}') |"
  echo
  echo "### Checks"
  echo
  local c
  if ((COLD_BIG_SHA_OK)); then
    echo "- cold GET of big through every proxy: sha256 = fixture (${BIG_SHA:0:16}…)"
  fi
  for c in "${CHECKS[@]}"; do echo "- $c"; done
  local nmiss
  nmiss=$(($(wc -l <"$NGX/miss.log" 2>/dev/null || echo 0) - NGINX_MISSES_WARMUP))
  echo "- nginx requests not answered from its cache after the warm-up: $nmiss"
  if ((${#FAILURES[@]})); then
    echo
    echo "### Failures"
    echo
    for c in "${FAILURES[@]}"; do echo "- $c"; done
  fi
}

mkdir -p "$(dirname "$OUT")"
report | tee "$OUT"
log "report written to $OUT"
((${#FAILURES[@]} == 0))
