#!/usr/bin/env bash
# The one test command (npm test): set-up, type check, build, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
# The Node.js that npm ci installed (package.json devDependencies) runs the build and every test,
# whatever the system's own Node.js is; npm scripts put it first already, this covers a direct call.
export PATH="$PWD/node_modules/.bin:$PATH"
if [ ! -x node_modules/.bin/node ]; then
  echo "npm ci did not install the pinned Node.js (devDependencies: node; its install script must run, see allowScripts)" >&2
  exit 1
fi
echo "tests run on Node.js $(node --version)"
bash tests/setup/ensure-packages.sh
npm run build --silent
# Biome's linter and configuration checks (biome.jsonc); the import layers are a test (tests/architecture).
npm run lint --silent
npx vitest run "$@"
