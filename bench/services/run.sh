#!/usr/bin/env bash
# Runs the service controller benchmark (bench/services): part 1 (the cost
# of one controller pass, in process, no Docker) and part 2 (UpdateService
# → steady state of a 10-task service on real Docker, against Docker's own
# floor). It builds berth, starts `berth server` (--service-healthy-after
# $HEALTHY_AFTER, default ECS's 40s) and $AGENTS agents (default 2) joined
# to cluster default, waits until they are connected, runs the Go program,
# then stops them and removes every container they (and the program) made.
# Extra arguments go to the Go program, e.g. `bash bench/services/run.sh
# -reps 1 -skip-controller`. The Markdown report goes to stdout, progress
# to stderr. BENCH_LOGS=DIR keeps the server and agent logs there.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-services.XXXXXX")
AGENTS=${AGENTS:-2}
HEALTHY_AFTER=${HEALTHY_AFTER:-40s}
RUN_ID="bsvc$(od -An -N5 -tx1 /dev/urandom | tr -d ' \n')"
SERVER_PID=""
AGENT_PIDS=()
INSTANCE_IDS=()

log() { echo "run.sh: $*" >&2; }

# stop_proc PID: SIGTERM, up to 15 s to exit, then SIGKILL.
stop_proc() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
}

# remove_containers: every container of this run, running or not: the
# agents' (berth.instance) and the program's floor containers.
remove_containers() {
	local ids="" id
	for id in "${INSTANCE_IDS[@]}"; do
		ids+=" $(docker ps -aq --filter "label=berth.instance=$id" || true)"
	done
	ids+=" $(docker ps -aq --filter "label=berth.bench.services.floor=$RUN_ID" || true)"
	ids=$(echo "$ids" | xargs)
	if [ -n "$ids" ]; then
		log "removing $(echo "$ids" | wc -w) containers"
		# shellcheck disable=SC2086
		timeout 300 docker rm -f -v $ids >/dev/null || log "docker rm failed"
	fi
}

cleanup() {
	local rc=$? pid f
	trap - EXIT INT TERM
	# The agents first (they leave task containers running), then the server.
	for pid in "${AGENT_PIDS[@]}"; do stop_proc "$pid"; done
	stop_proc "$SERVER_PID"
	remove_containers
	if [ "$rc" -ne 0 ]; then
		for f in "$TMP"/*.log; do
			if [ -s "$f" ]; then
				echo "--- last lines of $(basename "$f") ---" >&2
				tail -n 30 "$f" >&2
			fi
		done
	fi
	if [ -n "${BENCH_LOGS:-}" ]; then
		mkdir -p "$BENCH_LOGS" && cp "$TMP"/*.log "$BENCH_LOGS"/ 2>/dev/null || true
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PID PORT: up to 30 s for the server to accept connections.
wait_port() {
	local pid=$1 port=$2
	for _ in $(seq 300); do
		kill -0 "$pid" 2>/dev/null || { log "berth server exited before listening on port $port"; return 1; }
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	log "berth server did not listen on port $port within 30 s"
	return 1
}

command -v docker >/dev/null || { log "docker CLI not found in PATH"; exit 2; }
docker info >/dev/null 2>&1 || { log "the Docker engine is not reachable"; exit 2; }

cd "$ROOT"
COMMIT=$(git describe --always --dirty 2>/dev/null || echo unknown)
log "building berth (go build ./cmd/berth) at $COMMIT"
if ! timeout 300 go build -o "$TMP/berth" ./cmd/berth; then
	log "FAILED: berth does not build (see the compiler output above); the benchmark cannot run"
	exit 3
fi
log "building the benchmark (go build ./bench/services)"
timeout 300 go build -o "$TMP/benchservices" ./bench/services

printf '[default]\naws_access_key_id = AKIDBENCH\naws_secret_access_key = benchsecret\n' >"$TMP/credentials"
mkdir -p "$TMP/server-data"

PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
"$TMP/berth" server --listen "127.0.0.1:$PORT" --data-dir "$TMP/server-data" \
	--credentials "$TMP/credentials" --account-id 123456789012 --region us-east-1 \
	--service-healthy-after "$HEALTHY_AFTER" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
wait_port "$SERVER_PID" "$PORT"

for i in $(seq "$AGENTS"); do
	id="i-${RUN_ID}a$i"
	mkdir -p "$TMP/agent$i-data"
	"$TMP/berth" agent --server "$URL" --cluster default --data-dir "$TMP/agent$i-data" \
		--credentials "$TMP/credentials" --region us-east-1 --introspection-addr 127.0.0.1:0 \
		--instance-id "$id" >"$TMP/agent$i.log" 2>&1 &
	AGENT_PIDS+=("$!")
	INSTANCE_IDS+=("$id")
done
log "server $URL (pid $SERVER_PID), agents ${INSTANCE_IDS[*]} (pids ${AGENT_PIDS[*]})"
COMMON=(-endpoint "$URL" -cluster default -agents "$AGENTS" -run-id "$RUN_ID" -healthy-after "$HEALTHY_AFTER" -commit "$COMMIT")

log "waiting until $AGENTS container instances are agentConnected"
timeout 90 "$TMP/benchservices" "${COMMON[@]}" -wait-connected -connect-timeout 60s

# Bounded: each rollout is waited for at most -rollout-timeout, the whole
# run -timeout (20 min); this timeout is the backstop.
rc=0
timeout "${BENCH_TIMEOUT:-1500}" "$TMP/benchservices" "${COMMON[@]}" "$@" || rc=$?
exit "$rc"
