#!/usr/bin/env bash
# Install everything the tests need, then run every test.
# Browser tests drive Debian's Chromium (Playwright cannot download its own browser here);
# the balancer test runs Debian's nginx and HAProxy.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -r requirements-dev.txt
# Debian packages the tests drive: chromium (browser tests), nginx-light and haproxy (the README's balancers).
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
[ -x /usr/sbin/haproxy ] || missing+=(haproxy)
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    # the tests start nginx and HAProxy themselves: keep Debian from starting them as services on port 80
    blocker=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      blocker=/usr/sbin/policy-rc.d
      printf '#!/bin/sh\nexit 101\n' > "$blocker" && chmod +x "$blocker"
    fi
    status=0
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } || status=$?
    [ -z "$blocker" ] || rm -f "$blocker"
    [ "$status" = 0 ] || exit "$status"
  else
    echo "warning: missing ${missing[*]}; install them from Debian to run the browser and balancer tests" >&2
  fi
fi
python -m pytest "$@"
