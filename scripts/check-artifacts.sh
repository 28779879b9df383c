#!/usr/bin/env bash
# Checks what scripts/build-all.sh put in dist/ (or $DIST):
#   - each .deb: dpkg-deb -c contents, control fields, conffiles, the unit is
#     packaging/systemd/edgegw.service, the binary is an ELF of the right
#     machine (with `file`);
#   - the amd64 .deb installs into a scratch root (dpkg --root, scripts run
#     outside a chroot with DPKG_ROOT set, which they detect), upgrades to a
#     newer version keeping the edited config and the data, is removed
#     (config and data kept) and purged (both gone);
#   - the Windows exe is a valid PE32+ for amd64 (MZ, PE\0\0, machine 0x8664)
#     and the zip holds the exe, the example config and install.ps1.
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOWORK=off # packaging/ is its own module; see build-all.sh
DIST="${DIST:-dist}"
VERSION="${VERSION:-0.1.0}"

fail() { echo "check-artifacts: FAIL: $*" >&2; exit 1; }
ok() { echo "check-artifacts: ok: $*"; }
need() { command -v "$1" >/dev/null 2>&1 || fail "$1 not installed (apt-get install $2)"; }
need dpkg-deb dpkg
need dpkg dpkg

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# --- .deb contents -----------------------------------------------------------
declare -A elf=([amd64]="x86-64" [arm64]="ARM aarch64" [armhf]="ARM, EABI5")
for arch in amd64 arm64 armhf; do
	deb="$DIST/edgegw_${VERSION}_${arch}.deb"
	[ -f "$deb" ] || fail "$deb missing"
	list="$(dpkg-deb -c "$deb")"
	for path in ./usr/bin/edgegw ./lib/systemd/system/edgegw.service ./etc/edgegw/edgegw.yaml \
		./var/lib/edgegw/ ./lib/udev/rules.d/60-edgegw-gpio.rules ./usr/share/doc/edgegw/install.md \
		./usr/share/edgegw/monitoring/edgegw-fleet.json ./usr/share/edgegw/monitoring/edgegw.rules.yml \
		./usr/share/man/man1/edgegw.1.gz ./usr/share/man/man1/edgegw-status.1.gz; do
		grep -qE " ${path//./\\.}\$" <<<"$list" || fail "$deb lacks $path"
	done
	grep -E " \./usr/bin/edgegw$" <<<"$list" | grep -q '^-rwxr-xr-x root/root' || fail "$deb: /usr/bin/edgegw not 0755 root"
	grep -E " \./var/lib/edgegw/$" <<<"$list" | grep -q '^drwxr-x---' || fail "$deb: /var/lib/edgegw not 0750"
	[ "$(dpkg-deb -f "$deb" Package)" = edgegw ] || fail "$deb: Package"
	[ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "$deb: Architecture $(dpkg-deb -f "$deb" Architecture), want $arch"
	[ "$(dpkg-deb -f "$deb" Version)" = "$VERSION" ] || fail "$deb: Version $(dpkg-deb -f "$deb" Version), want $VERSION"
	ctrl="$work/ctrl-$arch"
	dpkg-deb -e "$deb" "$ctrl"
	grep -qx /etc/edgegw/edgegw.yaml "$ctrl/conffiles" || fail "$deb: edgegw.yaml is not a conffile"
	for s in preinst postinst prerm postrm; do
		[ -x "$ctrl/$s" ] || fail "$deb: no executable $s"
		sh -n "$ctrl/$s" || fail "$deb: $s does not parse"
	done
	x="$work/x-$arch"
	dpkg-deb -x "$deb" "$x"
	cmp -s "$x/lib/systemd/system/edgegw.service" packaging/systemd/edgegw.service || fail "$deb: unit differs from packaging/systemd/edgegw.service"
	if command -v file >/dev/null 2>&1; then
		f="$(file -b "$x/usr/bin/edgegw")"
		grep -q "ELF" <<<"$f" && grep -q "${elf[$arch]}" <<<"$f" || fail "$deb: binary is $f, want ELF ${elf[$arch]}"
		grep -q "statically linked" <<<"$f" || fail "$deb: binary is not static: $f"
	fi
	ok "$deb contents"
done
if command -v systemd-analyze >/dev/null 2>&1; then
	# Offline syntax check of the unit (unknown keys, bad values). The binary
	# it names is the amd64 one from the package tree.
	v="$(systemd-analyze verify --root="$work/x-amd64" /lib/systemd/system/edgegw.service 2>&1 || true)"
	if grep -qiE "unknown (key|section)|failed to parse|invalid" <<<"$v"; then
		fail "systemd-analyze verify: $v"
	fi
	ok "systemd-analyze verify (${v:-no warnings})"
fi

# --- install, upgrade, remove, purge in a scratch root -------------------------
root="$work/root"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
: >"$root/var/lib/dpkg/status"
: >"$root/var/lib/dpkg/available"
# --force-script-chrootless: run the maintainer scripts on the host with
# DPKG_ROOT=$root (they detect it and skip user/systemd steps);
# --no-triggers: the scratch root has no ldconfig/systemd to trigger.
DPKG=(dpkg --root="$root" --force-script-chrootless --force-not-root --no-triggers --log="$work/dpkg.log")
state() { dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${db:Status-Abbrev}${Version}' edgegw 2>/dev/null || true; }

deb1="$DIST/edgegw_${VERSION}_amd64.deb"
"${DPKG[@]}" -i "$deb1" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "install into scratch root"; }
grep -q "DPKG_ROOT=" "$work/install.log" || fail "postinst did not detect DPKG_ROOT: $(cat "$work/install.log")"
[ "$(state)" = "ii $VERSION" ] || fail "after install: state '$(state)'"
[ -x "$root/usr/bin/edgegw" ] || fail "no /usr/bin/edgegw after install"
[ -d "$root/var/lib/edgegw" ] || fail "no /var/lib/edgegw after install"
out="$("$root/usr/bin/edgegw" version)" || fail "installed binary does not run"
grep -q "edgegw $VERSION (commit" <<<"$out" || fail "installed binary says '$out', want version $VERSION"
ok "install into $root ($out)"

# Upgrade: the installer edited the config and the gateway has data.
echo "# edited on site" >>"$root/etc/edgegw/edgegw.yaml"
echo data >"$root/var/lib/edgegw/000001.vlog"
v2="${VERSION}+upgrade"
mkdir -p "$work/v2"
go -C packaging build -o "$work/mkdeb" ./cmd/mkdeb
"$work/mkdeb" --arch amd64 --version "$v2" --binary "$root/usr/bin/edgegw" \
	--config "$DIST/edgegw.yaml" --out "$work/v2" >/dev/null
deb2="$(ls "$work"/v2/edgegw_*_amd64.deb)"
"${DPKG[@]}" -i "$deb2" >"$work/upgrade.log" 2>&1 || { cat "$work/upgrade.log"; fail "upgrade"; }
[ "$(state)" = "ii $v2" ] || fail "after upgrade: state '$(state)', want 'ii $v2'"
grep -q "# edited on site" "$root/etc/edgegw/edgegw.yaml" || fail "upgrade replaced the edited config"
[ -f "$root/var/lib/edgegw/000001.vlog" ] || fail "upgrade lost the data"
ok "upgrade $VERSION -> $v2 keeps the config and the data"

"${DPKG[@]}" -r edgegw >"$work/remove.log" 2>&1 || { cat "$work/remove.log"; fail "remove"; }
[ "$(state)" = "rc $v2" ] || fail "after remove: state '$(state)', want 'rc' (config kept)"
[ ! -e "$root/usr/bin/edgegw" ] || fail "remove left /usr/bin/edgegw"
[ ! -e "$root/lib/systemd/system/edgegw.service" ] || fail "remove left the unit"
grep -q "# edited on site" "$root/etc/edgegw/edgegw.yaml" || fail "remove deleted the config"
[ -f "$root/var/lib/edgegw/000001.vlog" ] || fail "remove deleted the data"
ok "remove keeps the config and the data"

"${DPKG[@]}" -P edgegw >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "purge"; }
[ -z "$(state)" ] || [ "$(state)" = "un " ] || fail "after purge: state '$(state)'"
[ ! -e "$root/etc/edgegw/edgegw.yaml" ] || fail "purge left the config"
[ ! -e "$root/var/lib/edgegw" ] || fail "purge left /var/lib/edgegw"
ok "purge removes the config and the data"

# --- Windows -------------------------------------------------------------------
exe="$DIST/edgegw-windows-amd64.exe"
[ -f "$exe" ] || fail "$exe missing"
[ "$(head -c 2 "$exe")" = MZ ] || fail "$exe: no MZ header"
peoff=$(od -An -t u4 -j 60 -N 4 "$exe" | tr -d ' ')
[ "$(dd if="$exe" bs=1 skip="$peoff" count=4 2>/dev/null | od -An -t x1 | tr -d ' ')" = 50450000 ] || fail "$exe: no PE signature at $peoff"
machine=$(od -An -t x2 -j $((peoff + 4)) -N 2 "$exe" | tr -d ' ')
[ "$machine" = 8664 ] || fail "$exe: machine 0x$machine, want 0x8664 (amd64)"
magic=$(od -An -t x2 -j $((peoff + 24)) -N 2 "$exe" | tr -d ' ')
[ "$magic" = 020b ] || fail "$exe: optional header magic 0x$magic, want 0x020b (PE32+)"
if command -v file >/dev/null 2>&1; then
	f="$(file -b "$exe")"
	grep -q "PE32+ executable" <<<"$f" && grep -q "x86-64" <<<"$f" || fail "$exe: file says $f"
fi
ok "$exe is a PE32+ amd64 executable"
zipf="$DIST/edgegw_${VERSION}_windows_amd64.zip"
[ -f "$zipf" ] || fail "$zipf missing"
if command -v unzip >/dev/null 2>&1; then
	zl="$(unzip -Z1 "$zipf")"
else
	zl="$(python3 -c 'import sys,zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$zipf")"
fi
for f in edgegw/edgegw.exe edgegw/edgegw.example.yaml edgegw/install.ps1 edgegw/install.md; do
	grep -qx "$f" <<<"$zl" || fail "$zipf lacks $f"
done
ok "$zipf contents"
echo "check-artifacts: all ok"
