#!/usr/bin/env bash
# Starts or stops the Athlete Ally monitoring stack (runbook: monitoring/README.md).
#
#   scripts/start-monitoring.sh          # start: Prometheus :9090, Grafana :3000, Jaeger :16686
#   scripts/start-monitoring.sh stop     # stop and drop the volumes (compose `down -v`)
#   scripts/start-monitoring.sh status   # what runs
#
# With a Docker engine (`docker info` answers) it runs
#   docker compose -f docker-compose/preview.yml up -d prometheus grafana jaeger
# (or `docker-compose` when the compose plugin is missing); Grafana needs
# GF_SECURITY_ADMIN_PASSWORD in the environment (no password is committed).
#
# Without one it starts the Debian `prometheus` binary (apt-get install prometheus)
# on 127.0.0.1:9090 with monitoring/prometheus.yml, storage under ${TMPDIR:-/tmp},
# and writes its PID to a file so `stop` ends exactly that process. Grafana and
# Jaeger need Docker.
#
# Environment: MONITORING_NO_DOCKER=1 forces the fallback; PROMETHEUS_BIN (default
# `prometheus`) and PROMETHEUS_PORT (default 9090) tune it.
set -euo pipefail
cd "$(dirname "$0")/.."

COMPOSE_FILE=docker-compose/preview.yml
PROMETHEUS_BIN="${PROMETHEUS_BIN:-prometheus}"
PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"
STATE_DIR="${TMPDIR:-/tmp}/athlete-ally-monitoring"
PID_FILE="$STATE_DIR/prometheus.pid"
LOG_FILE="$STATE_DIR/prometheus.log"
DATA_DIR="$STATE_DIR/prometheus-data"
CONFIG_FILE="$PWD/monitoring/prometheus.yml"

say() { printf '%s\n' "$*"; }
die() { printf 'start-monitoring: %s\n' "$*" >&2; exit 1; }

usage() {
  say "usage: $0 [start|stop|status]"
}

docker_engine() {
  [ -z "${MONITORING_NO_DOCKER:-}" ] && command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

# Runs `docker compose` (v2 plugin) or `docker-compose` (v1) on the preview stack.
# The file requires the services' secrets; this script starts no service, so
# placeholders satisfy it when they are unset.
compose() {
  export AUTH_SECRET="${AUTH_SECRET:-unused-by-the-monitoring-stack-0000000000}"
  export ADMIN_TOKEN="${ADMIN_TOKEN:-unused-by-monitoring-0000}"
  if docker compose version >/dev/null 2>&1; then
    docker compose -f "$COMPOSE_FILE" "$@"
  elif command -v docker-compose >/dev/null 2>&1; then
    docker-compose -f "$COMPOSE_FILE" "$@"
  else
    die "neither 'docker compose' nor 'docker-compose' is installed"
  fi
}

# The PID in the PID file if that process is still our Prometheus, else nothing.
fallback_pid() {
  [ -f "$PID_FILE" ] || return 0
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  case "$pid" in '' | *[!0-9]*) return 0 ;; esac
  kill -0 "$pid" 2>/dev/null || return 0
  # Guard against a recycled PID: the process must be a Prometheus on our config.
  if [ -r "/proc/$pid/cmdline" ]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "--config.file=$CONFIG_FILE" || return 0
  fi
  printf '%s\n' "$pid"
}

# Whether anything accepts connections on the fallback port.
port_answers() {
  (exec 3<>"/dev/tcp/127.0.0.1/$PROMETHEUS_PORT") 2>/dev/null
}

start_docker() {
  if [ -z "${GF_SECURITY_ADMIN_PASSWORD:-}" ]; then
    die "set GF_SECURITY_ADMIN_PASSWORD to the Grafana admin password first (none is committed), e.g.
  export GF_SECURITY_ADMIN_PASSWORD='<a password of your choice>'"
  fi
  compose up -d prometheus grafana jaeger
  say ""
  say "Prometheus  http://127.0.0.1:9090  (targets: http://127.0.0.1:9090/targets)"
  say "Grafana     http://127.0.0.1:${GRAFANA_PORT:-3000}  (user admin, password from GF_SECURITY_ADMIN_PASSWORD)"
  say "Jaeger      http://127.0.0.1:16686  (OTLP gRPC 127.0.0.1:4317)"
  say "The Prometheus container scrapes the compose services (gateway-bff:9464, ...):"
  say "  docker compose -f $COMPOSE_FILE up -d --build   # the three services and NATS too"
}

start_fallback() {
  say "No Docker engine answers (docker info failed): starting the Debian prometheus binary instead."
  say "Grafana and Jaeger need Docker; they are not started."
  if ! command -v "$PROMETHEUS_BIN" >/dev/null 2>&1; then
    die "'$PROMETHEUS_BIN' not found: install it (apt-get install prometheus) or set PROMETHEUS_BIN"
  fi
  local pid
  pid="$(fallback_pid)"
  if [ -n "$pid" ]; then
    say "Prometheus already runs (PID $pid): http://127.0.0.1:$PROMETHEUS_PORT"
    return 0
  fi
  if port_answers; then
    die "something already answers on 127.0.0.1:$PROMETHEUS_PORT (another Prometheus? the Debian
  service: systemctl stop prometheus); stop it or set PROMETHEUS_PORT"
  fi
  mkdir -p "$DATA_DIR"
  # nohup: it outlives this script and the terminal; `stop` ends it by its PID.
  nohup "$PROMETHEUS_BIN" \
    --config.file="$CONFIG_FILE" \
    --storage.tsdb.path="$DATA_DIR" \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" \
    --web.enable-lifecycle \
    >"$LOG_FILE" 2>&1 </dev/null &
  pid=$!
  printf '%s\n' "$pid" >"$PID_FILE"
  # Ready within 30 s, or report why not.
  local i
  for i in $(seq 1 60); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      tail -n 20 "$LOG_FILE" >&2 || true
      die "prometheus exited at start (log: $LOG_FILE); is port $PROMETHEUS_PORT already taken?"
    fi
    if command -v curl >/dev/null 2>&1; then
      curl -fsS -o /dev/null "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" 2>/dev/null && break
    elif [ "$i" -ge 4 ]; then
      break
    fi
    sleep 0.5
  done
  sleep 0.5
  if ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$PID_FILE"
    tail -n 20 "$LOG_FILE" >&2 || true
    die "prometheus exited at start (log: $LOG_FILE)"
  fi
  say "Prometheus  http://127.0.0.1:$PROMETHEUS_PORT  (PID $pid, written to $PID_FILE)"
  say "  config  $CONFIG_FILE (targets 127.0.0.1:9464, :9465, :9466; rules monitoring/rules/)"
  say "  storage $DATA_DIR"
  say "  log     $LOG_FILE"
  say "Stop it with: $0 stop"
}

stop_fallback() {
  local pid
  pid="$(fallback_pid)"
  if [ -z "$pid" ]; then
    [ -f "$PID_FILE" ] && say "stale PID file removed: $PID_FILE"
    rm -f "$PID_FILE"
    return 0
  fi
  say "stopping Prometheus (PID $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "Prometheus (PID $pid) did not stop within 10 s: sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  # Like `down -v`: the storage goes too.
  rm -rf "$DATA_DIR"
}

stop_all() {
  stop_fallback
  if docker_engine; then
    # `down` does not use the Grafana password, but the compose file requires the
    # variable to be set for interpolation.
    GF_SECURITY_ADMIN_PASSWORD="${GF_SECURITY_ADMIN_PASSWORD:-unused-by-down}" compose down -v
  fi
}

status() {
  local pid
  pid="$(fallback_pid)"
  if [ -n "$pid" ]; then
    say "fallback Prometheus runs: PID $pid, http://127.0.0.1:$PROMETHEUS_PORT"
  else
    say "no fallback Prometheus started by this script"
  fi
  if docker_engine; then
    GF_SECURITY_ADMIN_PASSWORD="${GF_SECURITY_ADMIN_PASSWORD:-unused-by-ps}" compose ps
  else
    say "no Docker engine answers"
  fi
}

mkdir -p "$STATE_DIR"
case "${1:-start}" in
  start | up)
    if docker_engine; then start_docker; else start_fallback; fi
    ;;
  stop | down) stop_all ;;
  status) status ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
