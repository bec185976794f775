#!/usr/bin/env bash
# bench/run.sh [duration-seconds] [connections]
#
# Builds Caddy with backend_jwt and the benchmark's tools into a temporary
# folder, starts an upstream on 127.0.0.1, and runs ROUNDS rounds: each
# measures the crypto rates, then runs the four cases of issue 7 one after
# another, each against a Caddy of its own. Prints the medians over the
# rounds (ratios and predictions computed within each round) at the end.
# Needs only Go (and Linux for the RSS).
#
# Environment: ROUNDS (default 3), ACCESS_ALG (RS256, EdDSA or ES256, the
# access tokens' algorithm; default RS256, as WSO2 signs them), WARMUP (seconds before each measured
# window; default 1), CRYPTO_SECONDS (per measured crypto operation; default
# 2), BENCH_PROFILE=1 (a 5 s CPU profile of Caddy during each case of the
# last round, kept with BENCH_KEEP=1 as caseN.cpu.pprof; needs curl),
# BENCH_KEEP=1 (keep the temporary folder: Caddyfiles, logs, JSON results),
# HARNESS_PROCS (GOMAXPROCS of the load generator and the upstream; default
# 1: on cores shared with Caddy, more only adds wake-ups and spinning).
set -euo pipefail

duration=${1:-10}
conns=${2:-32}
warmup=${WARMUP:-1}
access_alg=${ACCESS_ALG:-RS256}
crypto_seconds=${CRYPTO_SECONDS:-2}
rounds=${ROUNDS:-3}
harness_procs=${HARNESS_PROCS:-1}
for v in "$duration" "$conns" "$warmup" "$crypto_seconds"; do
	if ! [[ $v =~ ^[0-9]+$ ]] || ((v < 1 || v > 3600)); then
		echo "usage: $0 [duration-seconds] [connections]  (whole numbers, 1 to 3600)" >&2
		exit 2
	fi
done
if ! [[ $harness_procs =~ ^[0-9]+$ ]] || ((harness_procs < 1 || harness_procs > 256)); then
	echo "HARNESS_PROCS=$harness_procs: want a whole number, 1 to 256" >&2
	exit 2
fi
if ! [[ $rounds =~ ^[0-9]+$ ]] || ((rounds < 1 || rounds > 100)); then
	echo "ROUNDS=$rounds: want a whole number, 1 to 100" >&2
	exit 2
fi
case $access_alg in RS256 | EdDSA | ES256) ;; *)
	echo "ACCESS_ALG=$access_alg: want RS256, EdDSA or ES256" >&2
	exit 2
	;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/backend-jwt-bench.XXXXXX")
bin=$work/bin
keys=$work/keys
results=$work/results
mkdir -p "$bin" "$keys" "$results" "$work/xdg"

upstream_pid=
caddy_pid=

cleanup() { stop_all_and_clean "$caddy_pid" "$upstream_pid"; }
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

cd "$root"
echo "== building Caddy with backend_jwt and the tools"
go build -o "$bin/" ./cmd/caddy ./bench/upstream ./bench/loadgen ./bench/cryptorate ./bench/benchutil
"$bin/benchutil" keys -dir "$keys" -alg "$access_alg"

# crypto: this round's crypto rates on all cores, while no Caddy runs (the
# upstream idles).
crypto() {
	echo "== round $round of $rounds: crypto rates on all cores (${crypto_seconds}s each)"
	"$bin/cryptorate" -keys "$keys" -duration "${crypto_seconds}s" -out "$results/crypto.r$round.json"
}

read -r up_port < <("$bin/benchutil" ports 1)
# The upstream stops by itself at the latest after the longest the run can
# take (a minute of slack a case for starting Caddy and minting).
GOMAXPROCS=$harness_procs "$bin/upstream" -port "$up_port" -lifetime "$((7200 + rounds * (4 * (duration + warmup + 60) + 4 * crypto_seconds + 60)))s" \
	>"$work/upstream.log" 2>&1 &
upstream_pid=$!
"$bin/benchutil" wait -url "http://127.0.0.1:$up_port/" -timeout 20s

# run_case N HANDLER LOADGEN-ARGS...: case N of this round: one Caddy, one
# load run, Caddy stopped. It is called in an if, so set -e is off inside:
# every step is checked.
run_case() {
	local n=$1 handler=$2 port admin file=$work/case$1.r$round.caddyfile log=$work/caddy$1.r$round.log
	shift 2
	read -r port admin < <("$bin/benchutil" ports 2) || return 1
	if ! start_caddy "$file" "$log" "$admin" "$port" "$up_port" "$handler"; then
		echo "round $round case $n: Caddy did not start" >&2
		return 1
	fi
	local rc=0 profiler=
	if [[ ${BENCH_PROFILE:-} == 1 ]] && ((round == rounds)); then
		# A CPU profile of Caddy in the middle of the load, from its admin API.
		(sleep $((warmup + 1)) && curl -s -o "$results/case$n.cpu.pprof" \
			"http://127.0.0.1:$admin/debug/pprof/profile?seconds=5") &
		profiler=$!
	fi
	GOMAXPROCS=$harness_procs "$bin/loadgen" -addr "127.0.0.1:$port" -duration "${duration}s" -warmup "${warmup}s" \
		-connections "$conns" -cpu-pids "caddy=$caddy_pid,upstream=$upstream_pid" \
		-out "$results/case$n.r$round.json" "$@" || rc=$?
	[[ -n $profiler ]] && wait "$profiler"
	if ((n == 3)) && [[ -r /proc/$caddy_pid/status ]]; then
		awk '/^VmRSS:/ {print $2}' "/proc/$caddy_pid/status" >"$results/rss_kib.r$round"
	fi
	stop_pid "$caddy_pid"
	caddy_pid=
	if ((rc != 0)); then
		echo "round $round case $n: the load generator failed; the end of Caddy's log:" >&2
		tail -n 20 "$log" >&2
	fi
	return "$rc"
}

# The run's access tokens, token i on line i+1, minted on both cores while
# no Caddy runs and shared by every case: each case's Caddy is new, so it
# has seen none of them. Cases 1 and 2 send the first 1000 round and round.
tokens=$work/tokens
mint() { "$bin/benchutil" mint -issuer-key "$keys/issuer.key" -out "$tokens" -count "$1"; }

# fresh_tokens CASE: mints, if the token file lacks them, as many tokens as
# case 3 or 4 of this round needs, from this round's cases 1 and 2 and
# crypto rates (the latest round in the results folder), and prints that
# number.
fresh_tokens() {
	local n
	n=$("$bin/benchutil" tokens -results "$results" -case "$1" -seconds $((duration + warmup))) && mint "$n" >&2 && echo "$n"
}

mint 1000
failed=0
for ((round = 1; round <= rounds; round++)); do
	crypto || failed=1
	echo "== round $round of $rounds, case 1: reverse_proxy alone, the same requests as case 2 (tokens in Authorization)"
	run_case 1 "" -mode cycle -tokens 1000 -issuer-key "$keys/issuer.key" -tokens-file "$tokens" || failed=1
	echo "== round $round of $rounds, case 2: backend_jwt, 1000 tokens cycling, RS256 generation"
	run_case 2 "$(backend_jwt_block "$access_alg" RS256 "$keys/rsa2048.key")" \
		-mode cycle -tokens 1000 -issuer-key "$keys/issuer.key" -tokens-file "$tokens" -expect-jwt || failed=1
	echo "== round $round of $rounds, case 3: a fresh token every request, RS256 generation"
	run_case 3 "$(backend_jwt_block "$access_alg" RS256 "$keys/rsa2048.key")" \
		-mode fresh -tokens "$(fresh_tokens 3)" -issuer-key "$keys/issuer.key" -tokens-file "$tokens" -expect-jwt || failed=1
	echo "== round $round of $rounds, case 4: a fresh token every request, ES256 generation"
	run_case 4 "$(backend_jwt_block "$access_alg" ES256 "$keys/p256.key")" \
		-mode fresh -tokens "$(fresh_tokens 4)" -issuer-key "$keys/issuer.key" -tokens-file "$tokens" -expect-jwt || failed=1
done

echo
echo "== results: $rounds round(s), ${duration}s per case after ${warmup}s warm-up, $conns connections," \
	"$(nproc 2>/dev/null || echo '?') cores, load generator and upstream at GOMAXPROCS=$harness_procs, $(go env GOVERSION), load average now: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
"$bin/benchutil" report -results "$results" || failed=1
exit "$failed"
