#!/usr/bin/env bash
# Makes sure a Chromium is there for the browser test (web/tests/browser.test.mjs): Debian's
# package, installed with apt-get when missing. Playwright never downloads a browser here.
set -euo pipefail

chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"

if [[ -x "$chromium" ]]; then
  exit 0
fi
if [[ -n "${CHROMIUM_PATH:-}" ]]; then
  echo "ensure-chromium: CHROMIUM_PATH=$CHROMIUM_PATH is not an executable file" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "ensure-chromium: /usr/bin/chromium is missing and there is no apt-get to install it;" \
    "install Chromium yourself and set CHROMIUM_PATH to it" >&2
  exit 1
fi

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "ensure-chromium: /usr/bin/chromium is missing; installing it needs root" \
      "(run: apt-get install chromium)" >&2
    exit 1
  fi
fi

echo "ensure-chromium: installing Debian's chromium package" >&2
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get update -qq \
  || ! "${sudo[@]}" apt-get install -y -qq chromium >/dev/null; then
  echo "ensure-chromium: apt-get could not install chromium" >&2
  exit 1
fi
if [[ ! -x /usr/bin/chromium ]]; then
  echo "ensure-chromium: the chromium package installed, but /usr/bin/chromium is missing" >&2
  exit 1
fi
/usr/bin/chromium --version 2>/dev/null || true
