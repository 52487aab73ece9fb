#!/usr/bin/env bash
# Runs before `npm test`: the integration tests start a real redis-server and a
# real prometheus, and load the fleet page in a real headless chromium. Install
# them with apt-get when missing and we are root; otherwise stop with a
# one-line instruction.
set -euo pipefail
echo "aibrix-cache tests on node $(node --version)"
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packages start system services we do not use; tests start their own.
  systemctl stop redis-server prometheus >/dev/null 2>&1 || service redis-server stop >/dev/null 2>&1 || true
  exit 0
fi
echo "missing ${missing[*]}: run 'sudo apt-get install -y ${missing[*]}' and try again" >&2
exit 1
