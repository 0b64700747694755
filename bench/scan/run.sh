#!/usr/bin/env bash
# Scanner throughput beside the read+sha256 baseline (bench/scan/scan_throughput.cc).
# Builds the benchmark in build/ and prints MB/s and the scan/baseline ratio per sample.
#   bench/scan/run.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
cmake -S . -B build -G Ninja -DHUBGATE_BENCH=ON >/dev/null
cmake --build build --target scan_throughput -j "${JOBS:-2}" >/dev/null
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
build/scan_throughput --benchmark_format=json --benchmark_out="$out" --benchmark_out_format=json >/dev/null
python3 - "$out" <<'PY'
import json, sys
runs = {b["name"]: b for b in json.load(open(sys.argv[1]))["benchmarks"]}
print(f'{"sample":<22} {"scan MB/s":>12} {"read+sha256 MB/s":>18} {"ratio":>8}  verdict')
for sample in ("Safetensors2GiB", "TorchZip500MB", "Pickle100MB"):
    s, h = runs.get(f"BM_Scan_{sample}"), runs.get(f"BM_Hash_{sample}")
    if not s or not h:
        continue
    sm, hm = s["bytes_per_second"] / 1e6, h["bytes_per_second"] / 1e6
    print(f'{sample:<22} {sm:>12.0f} {hm:>18.0f} {sm / hm:>7.1f}x  {s.get("label", "")}')
PY
