#!/usr/bin/env bash
# The shipped image, built and run for real (`make docker-test`, called by .ci/run). For a Debian 12
# machine, as root, that reaches Debian's mirror but no container registry:
#   1. installs docker.io, mmdebstrap and docker-compose (v1) when missing;
#   2. starts dockerd when none is running, and stops that one at the end, also on failure;
#   3. makes the base images when absent: debian:bookworm-slim (mmdebstrap + docker import) and
#      ecommerce-ci/postgres:15 (docker/postgres: Debian's PostgreSQL package);
#   4. builds the binary on the host (cargo build --release; reused when up to date) and the image
#      from it: docker/Dockerfile --target prebuilt, the shipped runtime stage plus that binary;
#   5. runs the container alone: HTTP smoke, non-root, HEALTHCHECK healthy, `docker stop` exits 0;
#   6. brings up docker/docker-compose.yml with docker/docker-compose.ci.yml: migrations once, two
#      API replicas on one PostgreSQL, a black-box smoke through both; tears it down with its
#      volumes.
# Published ports are on 127.0.0.1 only: DOCKER_TEST_PORT (default 18180) for the lone container,
# the two next ones for the replicas.
set -euo pipefail
cd "$(dirname "$0")/.."

export DOCKER_BUILDKIT=0
PORT_SINGLE=${DOCKER_TEST_PORT:-18180}
PORT_A=$((PORT_SINGLE + 1))
PORT_B=$((PORT_SINGLE + 2))
IMAGE=ecommerce-api:latest
PG_IMAGE=ecommerce-ci/postgres:15
SINGLE=ecommerce-ci-single
PROJECT=ecommerce-ci
GRACE=35
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

step() { printf '\n== [%4ss] %s\n' "$SECONDS" "$*"; }
fail() {
  echo "docker-test: FAILED: $*" >&2
  exit 1
}

compose() {
  API_BIND_ADDRESS=127.0.0.1 API_PORT=$PORT_A API_2_PORT=$PORT_B ECOMMERCE_API_IMAGE=$IMAGE \
    docker-compose --project-name "$PROJECT" \
    --file docker/docker-compose.yml --file docker/docker-compose.ci.yml "$@"
}

# Waits until URL answers 200, for at most $2 seconds.
wait_http() {
  python3 - "$1" "$2" <<'EOF'
import sys, time, urllib.request
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while True:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                sys.exit(0)
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit(f"{url} did not answer 200 in time")
    time.sleep(0.2)
EOF
}

# Waits until the container's HEALTHCHECK says healthy, for at most $2 seconds.
wait_healthy() {
  local status
  for _ in $(seq "$(($2 * 2))"); do
    status=$(docker inspect --format '{{.State.Health.Status}}' "$1")
    case $status in
      healthy) return 0 ;;
      unhealthy) break ;;
    esac
    sleep 0.5
  done
  docker inspect --format '{{json .State.Health}}' "$1" >&2
  fail "$1 is $status, not healthy"
}

# Stops container $1 and checks that it exited 0 within the grace period.
stop_cleanly() {
  local started elapsed code
  started=$(date +%s)
  docker stop --time "$GRACE" "$1" >/dev/null
  elapsed=$(($(date +%s) - started))
  code=$(docker inspect --format '{{.State.ExitCode}}' "$1")
  [[ $code == 0 ]] || fail "$1 exited $code after docker stop"
  ((elapsed < GRACE)) || fail "$1 took ${elapsed}s to stop (grace ${GRACE}s)"
  echo "$(docker inspect --format '{{.Name}}' "$1" | tr -d /): docker stop took ${elapsed}s, exit code 0"
}

STARTED_DOCKERD=""
DOCKERD_LOG=""
STACK_UP=""
cleanup() {
  local rc=$?
  set +e
  if [[ -n $STACK_UP ]]; then
    compose --profile migrate down --volumes --remove-orphans --timeout 10 >/dev/null 2>&1
  fi
  docker rm --force --volumes "$SINGLE" >/dev/null 2>&1
  if [[ -n $STARTED_DOCKERD ]]; then
    step "stopping the dockerd this script started (PID $STARTED_DOCKERD)"
    kill -TERM "$STARTED_DOCKERD" 2>/dev/null
    for _ in $(seq 60); do kill -0 "$STARTED_DOCKERD" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$STARTED_DOCKERD" 2>/dev/null
    wait "$STARTED_DOCKERD" 2>/dev/null
    if ((rc != 0)); then
      echo "last lines of the daemon's log ($DOCKERD_LOG):" >&2
      tail -n 20 "$DOCKERD_LOG" >&2
    fi
  fi
  if ((rc == 0)); then step "docker test passed"; else echo "docker-test: failed after ${SECONDS}s" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "tools"
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
  echo "installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
for port in "$PORT_SINGLE" "$PORT_A" "$PORT_B"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then fail "127.0.0.1:$port is already in use"; fi
done

step "docker daemon"
if docker info >/dev/null 2>&1; then
  echo "using the running daemon"
else
  DOCKERD_LOG=$(mktemp /tmp/ecommerce-dockerd.XXXXXX.log)
  dockerd >"$DOCKERD_LOG" 2>&1 &
  STARTED_DOCKERD=$!
  echo "started dockerd, PID $STARTED_DOCKERD, log $DOCKERD_LOG"
  for _ in $(seq 120); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$STARTED_DOCKERD" 2>/dev/null || fail "dockerd exited"
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || fail "dockerd did not answer within 60 s"
fi

step "base images"
if docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
  echo "debian:bookworm-slim is present"
else
  echo "making debian:bookworm-slim with mmdebstrap from $DEBIAN_MIRROR"
  # shellcheck disable=SC2016 # "$1" is the hook's own argument, expanded by mmdebstrap.
  mmdebstrap --quiet --variant=minbase --format=tar \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    bookworm - \
    "deb $DEBIAN_MIRROR bookworm main" \
    "deb $DEBIAN_MIRROR bookworm-updates main" \
    "deb $DEBIAN_SECURITY_MIRROR bookworm-security main" |
    docker import --change 'CMD ["bash"]' - debian:bookworm-slim
fi
# Rebuilt when docker/postgres changes.
pg_source=$(cat docker/postgres/* | sha256sum | cut -c1-16)
if [[ $(docker image inspect --format '{{index .Config.Labels "ecommerce.source"}}' "$PG_IMAGE" 2>/dev/null) == "$pg_source" ]]; then
  echo "$PG_IMAGE is present"
else
  echo "building $PG_IMAGE from Debian's postgresql package"
  docker build --quiet --label "ecommerce.source=$pg_source" -t "$PG_IMAGE" docker/postgres
fi

step "binary (cargo build --release)"
cargo build --release --locked --package api --bin ecommerce-api
mkdir -p dist
cp "${CARGO_TARGET_DIR:-target}/release/ecommerce-api" dist/ecommerce-api
if command -v strip >/dev/null; then strip dist/ecommerce-api; fi

step "image $IMAGE (docker/Dockerfile, target prebuilt)"
docker build --quiet -f docker/Dockerfile --target prebuilt -t "$IMAGE" .
docker image inspect --format 'user {{.Config.User}}, healthcheck {{json .Config.Healthcheck.Test}}, size {{.Size}} bytes' "$IMAGE"
if docker run --rm --entrypoint /bin/sh "$IMAGE" -c 'command -v curl' >/dev/null; then fail "curl is in the image"; fi

step "the container alone (memory store) on 127.0.0.1:$PORT_SINGLE"
docker run --detach --name "$SINGLE" --publish "127.0.0.1:$PORT_SINGLE:8080" "$IMAGE" >/dev/null
wait_http "http://127.0.0.1:$PORT_SINGLE/health" 30
python3 docker/smoke.py single "http://127.0.0.1:$PORT_SINGLE"
pid=$(docker inspect --format '{{.State.Pid}}' "$SINGLE")
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
((uid != 0)) || fail "the server runs as root"
echo "the server (PID 1 in the container) runs as uid $uid"
docker exec "$SINGLE" ecommerce-api config |
  python3 -c 'import json, sys; s = json.load(sys.stdin); assert s["server"]["host"] == "0.0.0.0" and s["log"]["format"] == "json", s'
echo "APP_ENV=production settings are in force (host 0.0.0.0, JSON logs)"
wait_healthy "$SINGLE" 60
echo "HEALTHCHECK (ecommerce-api healthcheck) reports healthy"
stop_cleanly "$SINGLE"
docker rm --volumes "$SINGLE" >/dev/null

step "compose stack: PostgreSQL + two replicas on 127.0.0.1:$PORT_A and :$PORT_B"
compose config --quiet
STACK_UP=1
compose up --detach --no-build db
compose --profile migrate run --rm migrate
compose up --detach --no-build api api-2
wait_http "http://127.0.0.1:$PORT_A/health" 60
wait_http "http://127.0.0.1:$PORT_B/health" 60
limit=$(sed -n 's/.*APP__RATE_LIMIT__REQUESTS: "\([0-9]*\)".*/\1/p' docker/docker-compose.ci.yml | head -n 1)
python3 docker/smoke.py stack "http://127.0.0.1:$PORT_A" "http://127.0.0.1:$PORT_B" "$limit"
for service in api api-2; do
  wait_healthy "$(compose ps --quiet "$service")" 60
  stop_cleanly "$(compose ps --quiet "$service")"
done
compose --profile migrate down --volumes --remove-orphans --timeout 10
STACK_UP=""
if docker volume ls --quiet | grep -q "^${PROJECT}_pgdata$"; then fail "the stack's volume is still there"; fi
echo "stack and volume removed"
