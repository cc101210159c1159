#!/usr/bin/env bash
# Install everything the tests need, then run every test.
# Browser tests drive Debian's Chromium (Playwright cannot download its own browser here);
# the balancer test runs Debian's nginx.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -r requirements-dev.txt
# Debian packages the tests drive: chromium (browser tests), nginx-light (the README's balancer setup).
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "warning: missing ${missing[*]}; install them from Debian to run the browser and balancer tests" >&2
  fi
fi
python -m pytest "$@"
