-- wrk script for bench/load/run.sh: plain GET requests (wrk's default) and one machine-readable
-- summary line. (HEAD is measured with hey instead: wrk 4.1's response parser waits for the
-- Content-Length body after a HEAD response, so every HEAD connection stalls after one request.)
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d max_us=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
