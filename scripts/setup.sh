#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian box (CI or a developer's).
# Idempotent: it only touches apt when a package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(socat libmodbus-dev gcc qemu-user-static chromium file dpkg-dev unzip prometheus mosquitto postgresql lintian)
missing=()
for p in "${APT_PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from another source than Debian (the machine image ships
# one with npm bundled); install Debian's only when the commands are absent.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
	echo "setup: installing ${missing[*]}"
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node packages for the browser test (playwright-core drives Debian's chromium;
# it never downloads a browser of its own).
if [ -f scripts/browser/package.json ] && [ ! -d scripts/browser/node_modules/playwright-core ]; then
	echo "setup: npm install in scripts/browser"
	(cd scripts/browser && npm install --no-audit --no-fund --silent)
fi
echo "setup: ok"
