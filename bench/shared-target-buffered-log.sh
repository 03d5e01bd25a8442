#!/usr/bin/env bash
# The service as ../shared/bench/targets/mta-sts-server.sh runs it (as deployed: attribution,
# statistics and reverse DNS at their defaults), with the fetch log gathered into 64 KiB writes
# at most a second late (log.buffer_bytes, README "When lines reach stdout"). From the project root:
#   ../shared/bench/run.sh --target 'bash bench/shared-target-buffered-log.sh' --name buffered-log --baselines node,node-pino
set -euo pipefail
cfg="$BENCH_LOG_DIR/mta-sts.yaml"
cat >"$cfg" <<YAML
domains:
  example.com:
    mode: enforce
    mx: [mx1.example.com, mx2.example.com, backup-mx.example.net, "*.mail.example.org"]
    max_age: 1209600
listen: { address: $BENCH_HOST, https: $BENCH_PORT, http: 0 }
tls:
  source: files
  certificates:
    - { cert: $BENCH_CERT, key: $BENCH_KEY }
state_dir: $BENCH_LOG_DIR/state
admin: { enabled: false }
log: { level: info, buffer_bytes: 65536, flush_interval_ms: 1000 }
YAML
exec node dist/src/cli/main.js serve --config "$cfg" >"$BENCH_LOG_DIR/service.log" 2>&1
