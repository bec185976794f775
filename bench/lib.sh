# bench/lib.sh: what bench/run.sh and bench/soak.sh share. Sourced; the
# caller sets work (the temporary folder), bin (the built tools) and keys.

# stop_pid PID: SIGTERM, up to 10 s to exit, then SIGKILL.
stop_pid() {
	local pid=$1 i
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# stop_all_and_clean PID...: stops the processes in the order given, then
# removes the temporary folder, or keeps it with BENCH_KEEP=1. The
# scripts' EXIT trap.
stop_all_and_clean() {
	local pid
	for pid in "$@"; do
		stop_pid "$pid"
	done
	if [[ ${BENCH_KEEP:-} == 1 ]]; then
		echo "kept $work"
	else
		rm -rf "$work"
	fi
}

# backend_jwt_block ACCESS_ALG SIGNING_ALG KEY_FILE: the handler under test:
# an issuer with a certificate, validate_subscription, an api, and
# generation with the default caches.
backend_jwt_block() {
	cat <<EOT
	backend_jwt {
		issuer https://localhost:9443/oauth2/token {
			certificate "$keys/issuer.pub.pem"
			algorithms $1
			validate_subscription
		}
		api PizzaShackAPI 1.0.0 /pizzashack
		generate {
			algorithm $2
			signing_key "$3"
		}
	}
EOT
}

# start_caddy FILE LOG ADMIN PORT UPSTREAM_PORT HANDLER: writes a Caddyfile
# (admin and site on 127.0.0.1, log level ERROR, storage under work) to FILE,
# starts Caddy with it (its pid in caddy_pid) and waits until the site
# answers. On failure it prints the end of LOG, stops Caddy and returns 1.
start_caddy() {
	local file=$1 log=$2 admin=$3 port=$4 up_port=$5 handler=$6
	cat >"$file" <<EOT
{
	admin 127.0.0.1:$admin
	auto_https off
	persist_config off
	storage file_system "$work/storage"
	log {
		output stderr
		level ERROR
	}
}

http://127.0.0.1:$port {
	bind 127.0.0.1
$handler
	reverse_proxy 127.0.0.1:$up_port
}
EOT
	XDG_DATA_HOME=$work/xdg XDG_CONFIG_HOME=$work/xdg \
		"$bin/caddy" run --config "$file" --adapter caddyfile >"$log" 2>&1 &
	caddy_pid=$!
	if ! "$bin/benchutil" wait -url "http://127.0.0.1:$port/" -timeout 30s; then
		echo "Caddy did not start; the end of its log:" >&2
		tail -n 20 "$log" >&2
		stop_pid "$caddy_pid"
		caddy_pid=
		return 1
	fi
}
