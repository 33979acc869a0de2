#!/usr/bin/env bash
# Runs the agent benchmark: RunTask → RUNNING latency, launch throughput and
# the agent's memory, against Docker's own create+start on the same engine
# and image (bench/agent). It builds berth, starts `berth server` and one
# `berth agent` joined to cluster default, waits until the agent is
# connected, runs the Go program, then stops both and removes every
# container they (and the program) made. Extra arguments go to the Go
# program, e.g. `bash bench/agent/run.sh -seq 10 -n 20`. The Markdown report
# goes to stdout, progress to stderr. BENCH_LOGS=DIR keeps the server and
# agent logs there.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-agent.XXXXXX")
SERVER_PID=""
AGENT_PID=""
INSTANCE_ID="i-bench$(od -An -N5 -tx1 /dev/urandom | tr -d ' \n')"

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
# agent's (berth.instance) and the program's own floor containers.
remove_containers() {
	local ids
	ids=$(docker ps -aq --filter "label=berth.instance=$INSTANCE_ID"; docker ps -aq --filter "label=berth.bench.floor=$INSTANCE_ID") || true
	if [ -n "$ids" ]; then
		log "removing $(echo "$ids" | wc -l) containers"
		# shellcheck disable=SC2086
		timeout 300 docker rm -f -v $ids >/dev/null || log "docker rm failed"
	fi
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# The agent first (it leaves task containers running), then the server.
	stop_proc "$AGENT_PID"
	stop_proc "$SERVER_PID"
	remove_containers
	if [ "$rc" -ne 0 ]; then
		for f in server.log agent.log; do
			if [ -s "$TMP/$f" ]; then
				echo "--- last lines of $f ---" >&2
				tail -n 30 "$TMP/$f" >&2
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
log "building the benchmark (go build ./bench/agent)"
timeout 300 go build -o "$TMP/benchagent" ./bench/agent

printf '[default]\naws_access_key_id = AKIDBENCH\naws_secret_access_key = benchsecret\n' >"$TMP/credentials"
mkdir -p "$TMP/server-data" "$TMP/agent-data"

PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
"$TMP/berth" server --listen "127.0.0.1:$PORT" --data-dir "$TMP/server-data" \
	--credentials "$TMP/credentials" --account-id 123456789012 --region us-east-1 \
	--agent-heartbeat 1s >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
wait_port "$SERVER_PID" "$PORT"

# The agent heartbeats at the server's interval: the agent does not learn
# it from the server, and a server expecting a heartbeat every second closes
# the session after 3 s without a message from an agent on the default 10 s.
"$TMP/berth" agent --server "$URL" --cluster default --data-dir "$TMP/agent-data" \
	--credentials "$TMP/credentials" --region us-east-1 --introspection-addr 127.0.0.1:0 \
	--instance-id "$INSTANCE_ID" --heartbeat 1s >"$TMP/agent.log" 2>&1 &
AGENT_PID=$!
log "server $URL (pid $SERVER_PID), agent $INSTANCE_ID (pid $AGENT_PID)"
COMMON=(-endpoint "$URL" -cluster default -instance-id "$INSTANCE_ID" -agent-pid "$AGENT_PID" -server-pid "$SERVER_PID" -commit "$COMMIT")

log "waiting until the container instance is agentConnected"
timeout 90 "$TMP/benchagent" "${COMMON[@]}" -wait-connected -connect-timeout 60s

# Bounded: each task is waited for at most -task-timeout, the whole run
# -timeout (10 min); this timeout is the backstop.
rc=0
timeout "${BENCH_TIMEOUT:-900}" "$TMP/benchagent" "${COMMON[@]}" "$@" || rc=$?
exit "$rc"
