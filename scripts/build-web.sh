#!/usr/bin/env bash
# Installs the page's npm packages when the lock file changed, then builds web/dist.
set -euo pipefail
cd "$(dirname "$0")/../web"

if [[ ! -f node_modules/.package-lock.json ]] || ! cmp -s package-lock.json node_modules/.sharer-lock; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.sharer-lock
fi
npm run --silent build
