#!/usr/bin/env bash
# Instructions a server executes per new TLS 1.3 connection, counted by callgrind (valgrind):
# unlike seconds, the count does not move with what else the machine is doing. README,
# "Against the leanest Node server that logs". From the project root, after `npm run build` and
# ../shared/bench/setup.sh (its certificate, fixture and tlsnew client):
#   bash bench/instructions-per-connection.sh node ../shared/bench/servers/node-pino.js
#   bash bench/instructions-per-connection.sh bash ../shared/bench/targets/mta-sts-server.sh
#   BARE_HTTPS_WITH=connections bash bench/instructions-per-connection.sh node dist/bench/bare-https.js
# The server is started as the shared bench starts it (its BENCH_* variables, port 18443), under
# valgrind, which follows a shell's exec into node.
# Four clients for 20 s warm the JIT up; the counters are zeroed, and the next 20 s are counted.
set -euo pipefail
bench=../shared/bench
out=$(mktemp -d)
trap 'kill -TERM "$server" 2>/dev/null; sleep 1; kill -KILL "$server" 2>/dev/null; rm -rf "$out"' EXIT
export BENCH_PORT=18443 BENCH_HOST=127.0.0.1 BENCH_CERT=$bench/certs/ecdsa.crt BENCH_KEY=$bench/certs/ecdsa.key \
  BENCH_POLICY_FILE=$bench/fixtures/mta-sts.txt BENCH_LOG_DIR=$out NODE_ENV=production
valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$out/callgrind.out" "$@" >"$out/server.log" 2>&1 &
server=$!
clients() {
  "$bench/bin/tlsnew" -addr 127.0.0.1:18443 -path /.well-known/mta-sts.txt -host mta-sts.example.com -c 4 -d 20s -tls 1.3
}
for _ in $(seq 600); do
  curl -sk -o /dev/null --max-time 20 --resolve mta-sts.example.com:18443:127.0.0.1 \
    https://mta-sts.example.com:18443/.well-known/mta-sts.txt && break
  kill -0 "$server" 2>/dev/null || { cat "$out/server.log"; exit 1; }
  sleep 0.5
done
clients >/dev/null 2>&1
callgrind_control --zero "$server" >/dev/null 2>&1
counted=$(clients 2>&1)
callgrind_control --dump "$server" >/dev/null 2>&1
sleep 1
connections=$(grep -oE '[0-9]+ full-handshake' <<<"$counted" | cut -d' ' -f1)
instructions=$(callgrind_annotate "$(ls -t "$out"/callgrind.out.* | head -1)" | grep -m1 'PROGRAM TOTALS' | tr -d ',' | awk '{print $1}')
echo "$* : $connections connections, $instructions instructions, $((instructions / connections)) per connection"
