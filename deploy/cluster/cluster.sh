#!/usr/bin/env bash
# The production shape on one machine, loopback only, without Docker:
#
#   client -> nginx 127.0.0.1:18080 -> ecommerce-api x3 (127.0.0.1:18081-18083)
#                                         |  database.url names both servers,
#                                         |  target_session_attrs=read-write
#                                         v
#              PostgreSQL primary 127.0.0.1:55432 --sync streaming--> standby 127.0.0.1:55433
#
# Commands:
#   cluster.sh start            build what is missing, start everything, print the addresses
#   cluster.sh stop             stop every process it started (by PID) and remove its directory
#   cluster.sh status           what runs
#   cluster.sh failover         SIGKILL the primary, promote the standby a second later
#   cluster.sh restart-replica N  SIGTERM replica N, wait for it to exit, start it again
#   cluster.sh stop-standby     stop the standby (the primary's commits then wait for it)
#   cluster.sh freeze|thaw      SIGSTOP / SIGCONT every process of the current primary
#
# Nothing here touches the machine's own PostgreSQL (5432) or nginx: the clusters live in a
# temporary directory, nginx runs with its own -c configuration and pid file.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PG_BIN="${PG_BIN:-$(pg_config --bindir 2>/dev/null || echo "/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -V | tail -1)/bin")}"
PRIMARY_PORT="${PRIMARY_PORT:-55432}"
STANDBY_PORT="${STANDBY_PORT:-55433}"
# The balancer's port; the replicas take the next three. Other than 18080, the shipped nginx
# file is used with its ports rewritten.
NGINX_PORT="${NGINX_PORT:-18080}"
REPLICA_PORTS=($((NGINX_PORT + 1)) $((NGINX_PORT + 2)) $((NGINX_PORT + 3)))
# Where the directory of the running cluster is recorded, so `stop` finds it.
STATE_FILE="${CLUSTER_STATE_FILE:-$ROOT/target/cluster.dir}"
BINARY="${ECOMMERCE_API_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/ecommerce-api}"
# Every replica's pool; 3 x POOL_SIZE + the listener sessions + headroom must stay under the
# primary's max_connections (see the README's deployment section).
POOL_SIZE="${POOL_SIZE:-10}"
MAX_CONNECTIONS="${MAX_CONNECTIONS:-60}"
# Replica settings the tests shorten (request deadline, drain period).
REQUEST_TIMEOUT="${REQUEST_TIMEOUT:-10}"
DRAIN_SECONDS="${DRAIN_SECONDS:-2}"

DATABASE_URL="postgres://postgres@127.0.0.1:${PRIMARY_PORT},127.0.0.1:${STANDBY_PORT}/ecommerce?target_session_attrs=read-write&sslmode=disable&connect_timeout=2"

log() { echo "cluster: $*" >&2; }
as_postgres() { runuser -u postgres -- "$@"; }

state_dir() {
  [[ -f "$STATE_FILE" ]] && cat "$STATE_FILE"
}

psql_at() {
  local port=$1
  shift
  as_postgres "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres "$@"
}

wait_pg() {
  local port=$1
  for _ in $(seq 1 60); do
    "$PG_BIN/pg_isready" -q -U postgres -h 127.0.0.1 -p "$port" && return 0
    sleep 0.5
  done
  log "PostgreSQL on $port did not come up"
  return 1
}

healthy() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "http://127.0.0.1:$1/health" 2>/dev/null
}

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

ensure_nginx() {
  if ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then
    log "installing nginx (Debian package)"
    # The package's own service must not start: this shape runs nginx with its own config.
    local policy_added=
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod +x /usr/sbin/policy-rc.d
      policy_added=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }
    if [[ -n "$policy_added" ]]; then rm -f /usr/sbin/policy-rc.d; fi
  fi
}

ensure_binary() {
  if [[ ! -x "$BINARY" ]]; then
    log "building ecommerce-api"
    (cd "$ROOT" && cargo build --bin ecommerce-api)
  fi
}

start_postgres() {
  local dir=$1
  as_postgres "$PG_BIN/initdb" -D "$dir/primary" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
  cat >>"$dir/primary/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PRIMARY_PORT
unix_socket_directories = '$dir'
max_connections = $MAX_CONNECTIONS
wal_level = replica
max_wal_senders = 5
wal_keep_size = '256MB'
# Commits wait until the standby has the WAL on disk: an acknowledged order survives the loss
# of the primary.
synchronous_standby_names = 'standby'
synchronous_commit = on
fsync = on
logging_collector = off
log_min_messages = warning
lc_messages = 'C'
EOF
  cat >"$dir/primary/pg_hba.conf" <<EOF
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
local all all trust
EOF
  as_postgres "$PG_BIN/pg_ctl" -D "$dir/primary" -l "$dir/primary.log" -w start >/dev/null
  head -1 "$dir/primary/postmaster.pid" >"$dir/primary.pid"
  wait_pg "$PRIMARY_PORT"
  as_postgres "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$dir/standby" -X stream
  as_postgres touch "$dir/standby/standby.signal"
  cat >>"$dir/standby/postgresql.conf" <<EOF
port = $STANDBY_PORT
primary_conninfo = 'host=127.0.0.1 port=$PRIMARY_PORT user=postgres application_name=standby'
hot_standby = on
EOF
  as_postgres "$PG_BIN/pg_ctl" -D "$dir/standby" -l "$dir/standby.log" -w start >/dev/null
  head -1 "$dir/standby/postmaster.pid" >"$dir/standby.pid"
  wait_pg "$STANDBY_PORT"
  local synced=
  for _ in $(seq 1 60); do
    if [[ "$(psql_at "$PRIMARY_PORT" -d postgres -Atc "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'")" == 1 ]]; then
      synced=1
      break
    fi
    sleep 0.5
  done
  [[ -n "$synced" ]] || { log "the standby did not become synchronous"; return 1; }
  psql_at "$PRIMARY_PORT" -d postgres -c "CREATE DATABASE ecommerce"
}

start_replica() {
  local dir=$1 n=$2
  local port=${REPLICA_PORTS[$((n - 1))]}
  if ! port_free "$port"; then
    log "port $port is taken"
    return 1
  fi
  # Config comes from the repository's config/; these are the per-replica overrides.
  APP_CONFIG_DIR="$ROOT/config" \
    APP__SERVER__HOST=127.0.0.1 \
    APP__SERVER__PORT="$port" \
    APP__SERVER__WORKERS=2 \
    APP__SERVER__REQUEST_TIMEOUT="$REQUEST_TIMEOUT" \
    APP__SERVER__DRAIN_SECONDS="$DRAIN_SECONDS" \
    APP__STORAGE__BACKEND=postgres \
    APP__DATABASE__URL="$DATABASE_URL" \
    APP__DATABASE__POOL_SIZE="$POOL_SIZE" \
    APP__CACHE__TTL_SECONDS=60 \
    RUST_LOG="${RUST_LOG:-warn}" \
    nohup "$BINARY" serve >>"$dir/replica$n.log" 2>&1 &
  echo $! >"$dir/replica$n.pid"
  for _ in $(seq 1 120); do
    if healthy "$port"; then return 0; fi
    kill -0 "$(cat "$dir/replica$n.pid")" 2>/dev/null || { log "replica $n exited; see $dir/replica$n.log"; tail -5 "$dir/replica$n.log" >&2; return 1; }
    sleep 0.25
  done
  log "replica $n did not answer /health"
  return 1
}

start_nginx() {
  local dir=$1
  mkdir -p "$dir/nginx"
  # The shipped configuration is an http-level file; this wrapper only adds what a standalone,
  # unprivileged nginx needs (its own pid file, logs and temporary paths).
  cat >"$dir/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/nginx/body;
  proxy_temp_path $dir/nginx/proxy;
  fastcgi_temp_path $dir/nginx/fastcgi;
  uwsgi_temp_path $dir/nginx/uwsgi;
  scgi_temp_path $dir/nginx/scgi;
  include $dir/nginx/ecommerce-api.conf;
}
EOF
  sed -e "s/127\.0\.0\.1:18080/127.0.0.1:$NGINX_PORT/" \
    -e "s/127\.0\.0\.1:18081/127.0.0.1:${REPLICA_PORTS[0]}/" \
    -e "s/127\.0\.0\.1:18082/127.0.0.1:${REPLICA_PORTS[1]}/" \
    -e "s/127\.0\.0\.1:18083/127.0.0.1:${REPLICA_PORTS[2]}/" \
    "$ROOT/deploy/nginx/ecommerce-api.conf" >"$dir/nginx/ecommerce-api.conf"
  local nginx_bin
  nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
  "$nginx_bin" -t -q -c "$dir/nginx/nginx.conf" -p "$dir/nginx"
  "$nginx_bin" -c "$dir/nginx/nginx.conf" -p "$dir/nginx"
  for _ in $(seq 1 40); do [[ -s "$dir/nginx/nginx.pid" ]] && break; sleep 0.25; done
  cp "$dir/nginx/nginx.pid" "$dir/nginx.pid"
}

cmd_start() {
  if [[ -n "$(state_dir || true)" && -d "$(state_dir)" ]]; then
    log "already running in $(state_dir); run 'make cluster-stop' first"
    exit 1
  fi
  for port in "$PRIMARY_PORT" "$STANDBY_PORT" "$NGINX_PORT" "${REPLICA_PORTS[@]}"; do
    port_free "$port" || { log "port $port is taken"; exit 1; }
  done
  ensure_nginx
  ensure_binary
  local dir
  dir="$(mktemp -d /tmp/ecommerce-cluster.XXXXXX)"
  chown postgres:postgres "$dir"
  chmod 755 "$dir"
  mkdir -p "$(dirname "$STATE_FILE")"
  echo "$dir" >"$STATE_FILE"
  # Whatever fails half-way, leave nothing running.
  trap 'log "start failed; stopping what was started"; cmd_stop' ERR
  start_postgres "$dir"
  # Migrations run once per deploy, before the replicas (they would also apply them at start).
  APP_CONFIG_DIR="$ROOT/config" APP__DATABASE__URL="$DATABASE_URL" RUST_LOG=warn "$BINARY" migrate >>"$dir/migrate.log" 2>&1
  for n in 1 2 3; do start_replica "$dir" "$n"; done
  start_nginx "$dir"
  trap - ERR
  log "up in $dir"
  echo "balancer:  http://127.0.0.1:$NGINX_PORT"
  echo "replicas:  ${REPLICA_PORTS[*]/#/http://127.0.0.1:}"
  echo "database:  $DATABASE_URL"
}

stop_pid_file() {
  local file=$1 signal=${2:-TERM}
  [[ -f "$file" ]] || return 0
  local pid
  pid="$(cat "$file")"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -CONT "$pid" 2>/dev/null || true
    kill "-$signal" "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

stop_postgres() {
  local dir=$1 name=$2
  [[ -f "$dir/$name.pid" ]] || return 0
  local pid
  pid="$(cat "$dir/$name.pid")"
  # A frozen server (freeze) must be thawed before it can stop; CONT to its whole process group
  # of children is done through the postmaster's children list.
  for child in $(pgrep -P "$pid" 2>/dev/null || true) "$pid"; do kill -CONT "$child" 2>/dev/null || true; done
  if kill -0 "$pid" 2>/dev/null; then
    as_postgres "$PG_BIN/pg_ctl" -D "$dir/$name" -m immediate -w -t 20 stop >/dev/null 2>&1 || kill -KILL "$pid" 2>/dev/null || true
  fi
  # Backends orphaned by a SIGKILLed postmaster exit on their own; make sure they did.
  for _ in $(seq 1 20); do
    pgrep -f -- "-D $dir/$name" >/dev/null 2>&1 || break
    sleep 0.25
  done
  rm -f "$dir/$name.pid"
}

cmd_stop() {
  local dir
  dir="$(state_dir || true)"
  if [[ -z "$dir" || ! -d "$dir" ]]; then
    log "nothing to stop"
    rm -f "$STATE_FILE"
    return 0
  fi
  stop_pid_file "$dir/nginx.pid" QUIT
  for n in 1 2 3; do stop_pid_file "$dir/replica$n.pid" TERM; done
  for pidfile in "$dir"/client*.pid; do [[ -e "$pidfile" ]] && stop_pid_file "$pidfile" TERM; done
  stop_postgres "$dir" standby
  stop_postgres "$dir" primary
  if [[ -n "${KEEP_CLUSTER_LOGS:-}" ]]; then
    mkdir -p "$KEEP_CLUSTER_LOGS"
    cp "$dir"/*.log "$dir"/nginx/error.log "$KEEP_CLUSTER_LOGS"/ 2>/dev/null || true
  fi
  rm -rf "$dir"
  rm -f "$STATE_FILE"
  log "stopped and removed $dir"
}

cmd_status() {
  local dir
  dir="$(state_dir || true)"
  [[ -n "$dir" && -d "$dir" ]] || { echo "not running"; return 0; }
  for f in "$dir"/*.pid; do
    local pid
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then echo "$(basename "$f" .pid): $pid running"; else echo "$(basename "$f" .pid): $pid gone"; fi
  done
}

# What an operator's failover manager (Patroni, pg_auto_failover) does, by hand: the primary
# dies, the standby is promoted, and the new primary stops waiting for a standby it no longer has.
cmd_failover() {
  local dir
  dir="$(state_dir)"
  local pid
  pid="$(cat "$dir/primary.pid")"
  log "SIGKILL primary (postmaster $pid)"
  kill -KILL "$pid"
  sleep "${PROMOTE_AFTER:-1}"
  as_postgres "$PG_BIN/pg_ctl" -D "$dir/standby" -w -t 30 promote >/dev/null
  if [[ -z "${KEEP_SYNC_STANDBY_NAMES:-}" ]]; then
    psql_at "$STANDBY_PORT" -d postgres -c "ALTER SYSTEM SET synchronous_standby_names = ''" -c "SELECT pg_reload_conf()" >/dev/null
  fi
  log "standby promoted"
}

cmd_restart_replica() {
  local dir n=$1
  dir="$(state_dir)"
  local pid
  pid="$(cat "$dir/replica$n.pid")"
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  start_replica "$dir" "$n"
}

cmd_freeze() {
  local dir signal=$1
  dir="$(state_dir)"
  local pid
  pid="$(cat "$dir/primary.pid")"
  for child in $(pgrep -P "$pid") "$pid"; do kill "-$signal" "$child" 2>/dev/null || true; done
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  failover) cmd_failover ;;
  restart-replica) cmd_restart_replica "${2:?replica number}" ;;
  stop-standby) stop_postgres "$(state_dir)" standby ;;
  freeze) cmd_freeze STOP ;;
  thaw) cmd_freeze CONT ;;
  url) echo "$DATABASE_URL" ;;
  *) echo "usage: $0 start|stop|status|failover|restart-replica N|stop-standby|freeze|thaw|url" >&2; exit 2 ;;
esac
