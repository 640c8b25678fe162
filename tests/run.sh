#!/usr/bin/env bash
# The one test command (npm test): set-up, type check, build, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
bash tests/setup/ensure-packages.sh
npm run build --silent
npx vitest run "$@"
