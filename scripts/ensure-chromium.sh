#!/usr/bin/env bash
# The official Adaptive Cards renderer and the Playground UI tests run in Debian's chromium (never `playwright install`:
# it downloads a browser build, which this project's machines cannot).
set -euo pipefail
if [[ -x /usr/bin/chromium ]]; then
  exit 0
fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "Installing Debian chromium for the card and browser tests..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "The tests need Debian's chromium at /usr/bin/chromium. Install it with: sudo apt-get install chromium" >&2
exit 1
