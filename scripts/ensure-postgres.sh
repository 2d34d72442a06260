#!/usr/bin/env bash
# The Postgres storage tests start a throwaway PostgreSQL cluster of their own
# (initdb + pg_ctl in a temp dir). Debian's server package provides them.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's postgresql for the storage tests..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  exit 0
fi
echo "The Postgres storage tests need PostgreSQL's initdb and pg_ctl." >&2
echo "Install them with: sudo apt-get install postgresql   (Debian/Ubuntu)" >&2
echo "Without them those tests are skipped with this same message." >&2
exit 0
