#!/bin/sh
# Install the Debian packages in tools/deps-apt.txt that are missing, and the
# npm packages the tests use. Runs apt-get only when something is missing.
set -e
cd "$(dirname "$0")/.."
missing=""
for p in $(grep -v '^#' tools/deps-apt.txt); do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# nodejs may come from another repository that bundles npm; Debian's npm
# package would conflict with it, so install npm only when the command is missing
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
	echo "installing:$missing"
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
# npm packages of each test tier that has a package.json (lockfiles pin them).
for d in tests/api tests/fhirpath tests/oracle; do
	if [ -f "$d/package.json" ] && [ ! -d "$d/node_modules" ]; then
		(cd "$d" && if [ -f package-lock.json ]; then npm ci --silent --no-audit --no-fund; else npm install --silent --no-audit --no-fund; fi)
	fi
done
