#!/usr/bin/env bash
# Run a built image of the app and check it as a server would run it (needs Docker; not part of the tests or CI):
#   docker build -t gpt-step-by-step . && bash scripts/docker_check.sh gpt-step-by-step
# Starts a container on a free loopback port, waits for /_stcore/health to answer ok and for Docker's HEALTHCHECK
# to say healthy, checks that the app runs as uid 10001, cannot change its code and can write /models, prints the
# image size, start-up times and memory, and removes the container. Exits non-zero on any failure.
# Waits (seconds) can be changed: HEALTH_TIMEOUT=60 HEALTHY_TIMEOUT=150 (the HEALTHCHECK's first probe is at 30 s).
set -euo pipefail

image=${1:?usage: scripts/docker_check.sh IMAGE}
health_timeout=${HEALTH_TIMEOUT:-60}
healthy_timeout=${HEALTHY_TIMEOUT:-150}
name="gpt-check-$$"
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
cleanup() { docker rm -f "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT

command -v docker >/dev/null || { echo "FAIL: docker is not installed" >&2; exit 2; }
command -v curl >/dev/null || { echo "FAIL: curl is not installed" >&2; exit 2; }
docker image inspect "$image" >/dev/null || { echo "FAIL: no image $image" >&2; exit 2; }

# Docker picks a free port on the loopback address for the container's 8501.
start=$(now)
docker run -d --name "$name" -p 127.0.0.1::8501 "$image" >/dev/null
port=$(docker port "$name" 8501/tcp 2>/dev/null | head -n1 | sed 's/.*://' || true)
if [ -z "$port" ]; then
  echo "FAIL: the container has no port for 8501 (it stopped?)" >&2
  docker logs --tail 30 "$name" >&2 || true
  exit 1
fi
url="http://127.0.0.1:$port"
echo "container $name from $image on $url"

health=""
deadline=$(( $(date +%s) + health_timeout ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  health=$(curl -s -m 2 "$url/_stcore/health" || true)
  [ "$health" = ok ] && break
  [ "$(docker inspect --format '{{.State.Running}}' "$name")" = true ] || break
  sleep 0.5
done
if [ "$health" = ok ]; then
  echo "health ok after $(since "$start") s"
else
  fail "/_stcore/health did not answer ok within ${health_timeout} s (got: '${health}')"
  docker logs --tail 30 "$name" >&2 || true
  exit 1
fi

# The start page is served (Streamlit's HTML shell; the pages themselves are drawn over its websocket).
curl -s -m 5 "$url/" | grep -q '<div id="root">' || fail "the start page is not Streamlit's HTML"

# The app's user, its code read-only, its writable places.
uid=$(docker exec "$name" id -u)
[ "$uid" = 10001 ] && echo "runs as uid $uid" || fail "runs as uid $uid, not 10001"
if docker exec "$name" sh -c 'touch /app/app.py || touch /app/gpt_core/probe.py || touch /app/assets/probe' 2>/dev/null; then
  fail "the app can change its code under /app"
else
  echo "code under /app is read-only for the app"
fi
docker exec "$name" sh -c 'touch /models/.probe && rm /models/.probe' && echo "/models is writable" \
  || fail "/models is not writable by the app"
docker exec "$name" sh -c 'touch "$HOME/.probe" && rm "$HOME/.probe"' && echo "home is writable" \
  || fail "the app's home is not writable"

status=""
deadline=$(( $(date +%s) + healthy_timeout ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  status=$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$name")
  [ "$status" = healthy ] || [ "$status" = unhealthy ] || [ "$status" = none ] && break
  sleep 2
done
[ "$status" = healthy ] && echo "HEALTHCHECK healthy after $(since "$start") s" \
  || fail "HEALTHCHECK is '$status' after ${healthy_timeout} s"

echo "image size: $(docker image ls --format '{{.Size}}' "$image" | head -n1)"
echo "container memory: $(docker stats --no-stream --format '{{.MemUsage}}' "$name")"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  docker logs --tail 30 "$name" >&2 || true
  exit 1
fi
echo "all checks passed"
