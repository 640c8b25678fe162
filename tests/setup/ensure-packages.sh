#!/usr/bin/env bash
# Installs the Debian packages the tests use as outside clients and real servers, when
# they are missing. Each line: a command the tests run, and the package that brings it.
set -euo pipefail
needed=(
  "mosquitto_pub mosquitto-clients"
  "influxd influxdb"
  "/usr/lib/postgresql/15/bin/initdb postgresql-15"
  "chromium chromium"
  "jq jq"
  "curl curl"
  "redis-server redis-server"
  "haproxy haproxy"
)
missing=()
for entry in "${needed[@]}"; do
  read -r cmd pkg <<<"$entry"
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
  echo "tests need Debian packages: ${missing[*]} (run as root, or install them first)" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing test packages: ${missing[*]}"
# Another package manager may hold the dpkg lock (unattended upgrades on a fresh machine): wait for it.
LOCK_WAIT=(-o DPkg::Lock::Timeout=600)
$SUDO apt-get "${LOCK_WAIT[@]}" update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${LOCK_WAIT[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
