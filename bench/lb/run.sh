#!/usr/bin/env bash
# Runs wrk (Debian) through berth's load balancer and through nginx
# (Debian) with the same two upstreams, on loopback, in one run: requests/s
# and p50/p99 at concurrency 1 and 64. It builds berth and a small backend
# (bench/lb/backend), starts `berth server`, makes a target group, an
# application load balancer and a listener with the AWS CLI, waits for both
# targets to be healthy, writes an nginx config with the same upstreams
# (keep-alive to them, as berth has), runs wrk against both, then stops
# everything. Needs wrk and nginx: apt-get install wrk nginx-light.
# DURATION (default 5s) sets each cell, ROUNDS (default 3) how many times
# every cell runs. The Markdown report goes to stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-lb.XXXXXX")
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
PIDS=()
log() { echo "run.sh: $*" >&2; }
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$TMP/nginx.pid" ] && kill "$(cat "$TMP/nginx.pid")" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

for cmd in wrk nginx aws; do
	command -v "$cmd" >/dev/null || { echo "run.sh: $cmd not found (apt-get install wrk nginx-light awscli)" >&2; exit 2; }
done
NGINX=$(command -v nginx)

B1=127.0.0.1:18181 B2=127.0.0.1:18182 API=127.0.0.1:18190 LBPORT=18191 NGPORT=18192
log "building"
(cd "$ROOT" && go build -o "$TMP/berth" ./cmd/berth && go build -o "$TMP/backend" ./bench/lb/backend)
"$TMP/backend" -addrs "$B1,$B2" & PIDS+=($!)
printf '[default]\naws_access_key_id = AKIDBENCH\naws_secret_access_key = benchsecret\n' >"$TMP/creds"
"$TMP/berth" server --listen "$API" --data-dir "$TMP/data" --credentials "$TMP/creds" 2>"$TMP/server.log" & PIDS+=($!)
export AWS_ACCESS_KEY_ID=AKIDBENCH AWS_SECRET_ACCESS_KEY=benchsecret AWS_DEFAULT_REGION=us-east-1
E=(--endpoint-url "http://$API" --output text)
for _ in $(seq 100); do aws elbv2 describe-load-balancers "${E[@]}" >/dev/null 2>&1 && break; sleep 0.1; done

log "creating the load balancer"
TG=$(aws elbv2 create-target-group "${E[@]}" --name bench --protocol HTTP --port 80 --target-type ip --vpc-id vpc-1 \
	--health-check-interval-seconds 5 --health-check-timeout-seconds 2 --healthy-threshold-count 2 --query 'TargetGroups[0].TargetGroupArn')
LB=$(aws elbv2 create-load-balancer "${E[@]}" --name bench --subnets subnet-1 subnet-2 --query 'LoadBalancers[0].LoadBalancerArn')
aws elbv2 create-listener "${E[@]}" --load-balancer-arn "$LB" --protocol HTTP --port "$LBPORT" \
	--default-actions "Type=forward,TargetGroupArn=$TG" >/dev/null
aws elbv2 register-targets "${E[@]}" --target-group-arn "$TG" --targets "Id=127.0.0.1,Port=${B1#*:}" "Id=127.0.0.1,Port=${B2#*:}"
for _ in $(seq 60); do
	healthy=$(aws elbv2 describe-target-health "${E[@]}" --target-group-arn "$TG" --query 'length(TargetHealthDescriptions[?TargetHealth.State==`healthy`])')
	[ "$healthy" = 2 ] && break
	sleep 0.5
done
[ "$healthy" = 2 ] || { log "targets not healthy"; cat "$TMP/server.log" >&2; exit 1; }

cat >"$TMP/nginx.conf" <<NGINX
daemon on;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log;
worker_processes auto;
events { worker_connections 4096; }
http {
	access_log off;
	upstream backends { server $B1; server $B2; keepalive 128; }
	server {
		listen 127.0.0.1:$NGPORT;
		location / { proxy_pass http://backends; proxy_http_version 1.1; proxy_set_header Connection ""; }
	}
}
NGINX
"$NGINX" -c "$TMP/nginx.conf" -p "$TMP" 2>/dev/null

# cell NAME URL CONNS THREADS: one wrk run, printed as a table row.
cell() {
	local out rps p50 p99
	out=$(wrk -t"$4" -c"$3" -d"$DURATION" --latency "$2")
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	p50=$(awk '$1=="50%" {print $2}' <<<"$out")
	p99=$(awk '$1=="99%" {print $2}' <<<"$out")
	echo "| $1 | $3 | $rps | $p50 | $p99 |"
}
echo "wrk through berth's HTTP listener and through nginx, same two upstreams, loopback, $(nproc) CPUs, $DURATION per cell, $ROUNDS rounds (berth and nginx alternating)"
echo
echo "| proxy | connections | round | requests/s | p50 | p99 |"
echo "|---|---:|---:|---:|---:|---:|"
: >"$TMP/cells"
for r in $(seq "$ROUNDS"); do
	for c in 1 64; do
		t=1; [ "$c" -gt 1 ] && t=2
		for proxy in berth nginx; do
			port=$LBPORT; [ "$proxy" = nginx ] && port=$NGPORT
			row=$(cell "$proxy" "http://127.0.0.1:$port/" "$c" "$t")
			echo "$row" | sed "s/^| $proxy | $c |/| $proxy | $c | $r |/"
			awk -F'|' -v p="$proxy" -v c="$c" '
				function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1e6; return v }
				{ gsub(/ /, ""); print p, c, $4, us($5), us($6) }' <<<"$row" >>"$TMP/cells"
		done
	done
done
echo
echo "Medians over the rounds (latencies in µs), and berth/nginx:"
echo
echo "| connections | berth req/s | nginx req/s | berth/nginx | berth p50 / p99 | nginx p50 / p99 |"
echo "|---:|---:|---:|---:|---:|---:|"
# med PROXY CONNS FIELD: the median of one column of the cells.
med() { awk -v p="$1" -v c="$2" -v f="$3" '$1==p && $2==c {print $f}' "$TMP/cells" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for c in 1 64; do
	b=$(med berth "$c" 3) n=$(med nginx "$c" 3)
	echo "| $c | $b | $n | $(awk -v b="$b" -v n="$n" 'BEGIN {printf "%.2f×", b/n}') | $(med berth "$c" 4) / $(med berth "$c" 5) | $(med nginx "$c" 4) / $(med nginx "$c" 5) |"
done
echo
echo "Target: ≥ 1.0× nginx throughput, p99 no worse than nginx."
