#!/usr/bin/env bash
# Two servers on the same core at the same time, each loaded by its own client: the ratio of
# their requests per CPU second. The shared bench (../shared/bench/run.sh) runs servers one after
# the other, so a VM whose speed drifts by 10-15 % from one minute to the next moves its ratios as
# much; here both servers meet every drift together, and it cancels out of their ratio.
# README, "Against the leanest Node server that logs". From the project root, after
# `npm run build` and ../shared/bench/setup.sh (certificate, fixture, tlsnew), as root (keepalive
# maps the policy host to 127.0.0.1 for wrk in a mount namespace of its own):
#   bash bench/side-by-side.sh newconn 3 'node ../shared/bench/servers/node-pino.js' 'bash ../shared/bench/targets/mta-sts-server.sh'
# SCENARIO is keepalive (wrk) or newconn (tlsnew: a new TCP connection and TLS 1.3 handshake per
# request); each command is started as the shared bench starts a target (its BENCH_* variables,
# bash, pinned to CPU 1; the clients run on CPU 0). SECONDS_MEASURED (default 8) per round, after
# the shared bench's warm-up (2 s keep-alive, then 1 s of new connections).
# Each server gets about half the core, so it serves at half its rate: a regime of its own,
# for comparing two servers, not for their absolute throughput.
set -euo pipefail
scenario=$1 rounds=$2 first=$3 second=$4
bench=$(cd "${BENCH:-../shared/bench}" && pwd)
measured=${SECONDS_MEASURED:-8}
url_path=/.well-known/mta-sts.txt
host=mta-sts.example.com
scratch=$(mktemp -d /dev/shm/side-by-side.XXXXXX)
leaders=()
{ cat /etc/hosts; echo "127.0.0.1 $host"; } >"$scratch/hosts"
trap 'for leader in "${leaders[@]}"; do kill -TERM -"$leader" 2>/dev/null || true; done; sleep 0.5; rm -rf "$scratch"' EXIT

start() { # COMMAND PORT LOGDIR -> the process group leader's pid
  (
    export BENCH_PORT=$2 BENCH_HOST=127.0.0.1 BENCH_CERT=$bench/certs/ecdsa.crt BENCH_KEY=$bench/certs/ecdsa.key \
      BENCH_POLICY_FILE=$bench/fixtures/mta-sts.txt BENCH_LOG_DIR=$3 NODE_ENV=production
    exec setsid taskset -c 1 bash -c "exec $1" >"$3/out.txt" 2>&1 </dev/null
  ) &
  echo $!
}

# `load keepalive|newconn PORT SECONDS`: the requests the client completed against PORT in SECONDS.
load() {
  if [[ $1 == newconn ]]; then
    taskset -c 0 "$bench/bin/tlsnew" -addr "127.0.0.1:$2" -path $url_path -host $host -c 25 -d "$3s" -tls 1.3 2>&1 |
      grep -o '"requests":[0-9]*' | cut -d: -f2
  else
    # wrk sends its URL's host as TLS server name, which must be the policy host (RFC 8461 §3.3;
    # an address gets the neutral certificate and 421): the host is mapped to 127.0.0.1 in a
    # mount namespace of wrk's own, so /etc/hosts stays as it is.
    unshare --mount bash -c 'mount --bind "$1" /etc/hosts && exec taskset -c 0 wrk -t1 -c25 -d"$2s" "$3"' \
      wrk "$scratch/hosts" "$3" "https://$host:$2$url_path" 2>&1 | awk '/requests in/ {print $1}'
  fi
}

ready() {
  for _ in $(seq 300); do
    curl -sk -o /dev/null --resolve "$host:$1:127.0.0.1" "https://$host:$1$url_path" && return 0
    sleep 0.1
  done
  echo "no answer on port $1" >&2
  return 1
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

ratios=()
for ((round = 1; round <= rounds; round++)); do
  ports=($((20000 + RANDOM % 5000)) $((25000 + RANDOM % 5000)))
  mkdir -p "$scratch/$round-a" "$scratch/$round-b"
  leaders=("$(start "$first" "${ports[0]}" "$scratch/$round-a")" "$(start "$second" "${ports[1]}" "$scratch/$round-b")")
  ready "${ports[0]}"
  ready "${ports[1]}"
  for warm in "keepalive 2" "newconn 1"; do
    load ${warm% *} "${ports[0]}" ${warm#* } >/dev/null &
    load ${warm% *} "${ports[1]}" ${warm#* } >/dev/null
    wait
  done
  # Node 24 names its main thread, and so its process, MainThread; Node 20 leaves it node.
  pids=("$(pgrep -s "${leaders[0]}" -x 'node|MainThread' | head -1)" "$(pgrep -s "${leaders[1]}" -x 'node|MainThread' | head -1)")
  before=("$(cpu_ticks "${pids[0]}")" "$(cpu_ticks "${pids[1]}")")
  load "$scenario" "${ports[0]}" "$measured" >"$scratch/requests-a" &
  load "$scenario" "${ports[1]}" "$measured" >"$scratch/requests-b"
  wait
  after=("$(cpu_ticks "${pids[0]}")" "$(cpu_ticks "${pids[1]}")")
  for leader in "${leaders[@]}"; do kill -TERM -"$leader" 2>/dev/null || true; done
  leaders=()
  line=$(awk -v na="$(cat "$scratch/requests-a")" -v nb="$(cat "$scratch/requests-b")" \
    -v ca=$((after[0] - before[0])) -v cb=$((after[1] - before[1])) -v round="$round" \
    'BEGIN { ra = na / (ca * 10); rb = nb / (cb * 10); printf "round %d: first %d requests in %.2f CPU s (%.2f per CPU ms), second %d in %.2f CPU s (%.2f per CPU ms), second/first %.3f\n", round, na, ca / 100, ra, nb, cb / 100, rb, rb / ra }')
  echo "$line"
  ratios+=("${line##* }")
  sleep 0.5
done
printf '%s\n' "${ratios[@]}" | sort -n | awk -v scenario="$scenario" '{ r[NR] = $1 } END { printf "RATIO %s second/first median %.3f [%.3f..%.3f] over %d rounds\n", scenario, r[int((NR + 1) / 2)], r[1], r[NR], NR }'
