#!/usr/bin/env bash
# Runs the ECS API benchmark: berth and moto_server side by side on this
# machine, driven by the same Go client code (bench/api). Extra arguments go
# to the Go program, e.g. `bash bench/api/run.sh -duration 2s -revisions 1000`
# or `-json`. The Markdown (or JSON) report goes to stdout, progress to stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-api.XXXXXX")
BERTH_PID=""
MOTO_PID=""

cleanup() {
	local rc=$?
	for pid in $BERTH_PID $MOTO_PID; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in $BERTH_PID $MOTO_PID; do
		# give each server up to 5 s to exit, then force it
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	done
	if [ "$rc" -ne 0 ]; then
		for log in berth.log moto.log; do
			if [ -s "$TMP/$log" ]; then
				echo "--- last lines of $log ---" >&2
				tail -n 20 "$TMP/$log" >&2
			fi
		done
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "run.sh: $*" >&2; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port NAME PID PORT: up to 30 s for the server to accept connections.
wait_port() {
	local name=$1 pid=$2 port=$3
	for _ in $(seq 300); do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "$name exited before listening on port $port"
			return 1
		fi
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	log "$name did not listen on port $port within 30 s"
	return 1
}

command -v moto_server >/dev/null || { log "moto_server not found in PATH"; exit 2; }

cd "$ROOT"
log "building berth (go build ./cmd/berth)"
if ! timeout 300 go build -o "$TMP/berth" ./cmd/berth; then
	log "FAILED: berth does not build (see the compiler output above); the benchmark cannot run"
	exit 3
fi
log "building the benchmark (go build ./bench/api)"
timeout 300 go build -o "$TMP/benchapi" ./bench/api

printf '[default]\naws_access_key_id = AKIDBENCH\naws_secret_access_key = benchsecret\n' >"$TMP/credentials"
mkdir -p "$TMP/data"

BERTH_PORT=$(free_port)
"$TMP/berth" server --listen "127.0.0.1:$BERTH_PORT" --data-dir "$TMP/data" \
	--credentials "$TMP/credentials" --account-id 123456789012 --region us-east-1 \
	>"$TMP/berth.log" 2>&1 &
BERTH_PID=$!

MOTO_PORT=$(free_port)
moto_server -H 127.0.0.1 -p "$MOTO_PORT" >"$TMP/moto.log" 2>&1 &
MOTO_PID=$!

wait_port berth "$BERTH_PID" "$BERTH_PORT"
wait_port moto "$MOTO_PID" "$MOTO_PORT"
log "berth on 127.0.0.1:$BERTH_PORT (pid $BERTH_PID), moto_server on 127.0.0.1:$MOTO_PORT (pid $MOTO_PID)"

# Bounded: each target's setup is bounded by -setup-timeout, each cell by
# -duration/-max-requests, and the whole program by this timeout.
rc=0
timeout "${BENCH_TIMEOUT:-900}" "$TMP/benchapi" \
	-berth "http://127.0.0.1:$BERTH_PORT" -moto "http://127.0.0.1:$MOTO_PORT" -sync-dir "$TMP" "$@" || rc=$?

# The physical floor of a durable write on this disk: one bbolt commit
# (two fdatasyncs) at a time, and with writers sharing commits. A serial
# client can never register faster than the first figure.
log "measuring the store's durable commit floor (internal/store/boltstore benchmarks)"
echo "### Durable commit floor (same machine, bbolt in $TMP)"
echo
echo '| benchmark | ms per commit | commits/s |'
echo '|---|---:|---:|'
TMPDIR="$TMP" timeout 300 go test -run '^$' -bench 'Txn(Serial|Parallel)$' -benchtime 2000x ./internal/store/boltstore/ |
	awk '/^BenchmarkTxn/ { printf "| %s | %.3f | %.0f |\n", $1, $3/1e6, 1e9/$3 }'
echo
exit "$rc"
