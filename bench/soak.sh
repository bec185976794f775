#!/usr/bin/env bash
# bench/soak.sh [duration-seconds] [connections]
#
# The soak: load for a duration (default 120 s) over 50,000 distinct valid
# access tokens, cycling, against Caddy with backend_jwt validating and
# generating RS256 backend JWTs with its default caches (10,000 validated
# and 10,000 generated tokens, eviction factor 0.25): both caches stay over
# capacity and evict all the time. Caddy's memory is sampled every few
# seconds (VmRSS from /proc, the Go heap from the admin API); the script
# prints the samples, the load's figures and a verdict, and exits 1 if a
# request failed or the heap of the last third of the run is higher than
# the middle third's by more than 10%. Needs only Go (and Linux for the
# RSS). Everything listens on 127.0.0.1 on free ports; everything started is
# stopped at the end, also on Ctrl-C or an error.
#
# Environment: SOAK_TOKENS (distinct tokens; default 50000), SOAK_INTERVAL
# (between samples; default 5s), BENCH_KEEP=1 (keep the temporary folder:
# Caddyfile, logs, samples.json, load.json).
set -euo pipefail

duration=${1:-120}
conns=${2:-32}
tokens=${SOAK_TOKENS:-50000}
interval=${SOAK_INTERVAL:-5s}
for v in "$duration" "$conns"; do
	if ! [[ $v =~ ^[0-9]+$ ]] || ((v < 1 || v > 3600)); then
		echo "usage: $0 [duration-seconds] [connections]  (whole numbers, 1 to 3600)" >&2
		exit 2
	fi
done
if ! [[ $tokens =~ ^[0-9]+$ ]] || ((tokens < 1)); then
	echo "SOAK_TOKENS=$tokens: want a positive whole number" >&2
	exit 2
fi

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/backend-jwt-soak.XXXXXX")
bin=$work/bin
keys=$work/keys
mkdir -p "$bin" "$keys" "$work/xdg"

upstream_pid=
caddy_pid=
soak_pid=

# The soak's own process stops the load generator it runs.
cleanup() { stop_all_and_clean "$soak_pid" "$caddy_pid" "$upstream_pid"; }
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

cd "$root"
echo "== building Caddy with backend_jwt and the tools"
go build -o "$bin/" ./cmd/caddy ./bench/upstream ./bench/loadgen ./bench/benchutil
"$bin/benchutil" keys -dir "$keys" -alg EdDSA

read -r up_port port admin < <("$bin/benchutil" ports 3)
"$bin/upstream" -port "$up_port" -lifetime 2h >"$work/upstream.log" 2>&1 &
upstream_pid=$!
"$bin/benchutil" wait -url "http://127.0.0.1:$up_port/" -timeout 20s

# The handler of bench/run.sh's case 2, with the default caches.
start_caddy "$work/Caddyfile" "$work/caddy.log" "$admin" "$port" "$up_port" "$(backend_jwt_block EdDSA RS256 "$keys/rsa2048.key")"

echo "== soak: ${duration}s, $conns keep-alive connections, $tokens distinct tokens cycling," \
	"validated and generated token caches of 10000 each; a sample every $interval"
rc=0
"$bin/benchutil" soak -pid "$caddy_pid" -admin "http://127.0.0.1:$admin" -interval "$interval" \
	-tokens "$tokens" -validation-capacity 10000 -generation-capacity 10000 \
	-load-result "$work/load.json" -out "$work/samples.json" -- \
	"$bin/loadgen" -addr "127.0.0.1:$port" -mode rotate -tokens "$tokens" -issuer-key "$keys/issuer.key" \
	-expect-jwt -connections "$conns" -warmup 1s -duration "${duration}s" -out "$work/load.json" &
soak_pid=$!
wait "$soak_pid" || rc=$?
soak_pid=
if ! kill -0 "$caddy_pid" 2>/dev/null; then
	echo "Caddy is no longer running; the end of its log:" >&2
	tail -n 20 "$work/caddy.log" >&2
	rc=1
fi
echo "== $(nproc 2>/dev/null || echo '?') cores, $(go env GOVERSION), load average now: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
exit "$rc"
