#!/usr/bin/env bash
# Checks what scripts/build-all.sh put in dist/ (or $DIST):
#   - each .deb (edgegw, edgecentral): dpkg-deb -c contents, control fields,
#     conffiles, copyright/changelog/man pages, the unit is the one in
#     packaging/systemd, the binary is an ELF of the right machine (with
#     `file`); lintian reports no error (E:), its warnings are printed;
#   - the amd64 .debs install into a scratch root (dpkg --root, scripts run
#     outside a chroot with DPKG_ROOT set, which they detect), print the next
#     steps, upgrade to a newer version keeping the edited config and the
#     data, are removed (config and data kept) and purged (both gone);
#   - where the box allows it (root, unshare, overlayfs), the edgegw .deb is
#     installed for real in a throw-away chroot of this system (an overlay:
#     nothing reaches the host) with no systemd running: the maintainer
#     scripts make the user and the permissions, `edgegw service install`
#     writes the SysV script, which runs the gateway as user edgegw; remove
#     keeps the data, purge removes it;
#   - the Windows exe is a valid PE32+ for amd64 (MZ, PE\0\0, machine 0x8664)
#     and the zip holds the exe, the Windows example config, install.ps1 and
#     uninstall.ps1.
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
need lintian lintian

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# --- .deb contents -----------------------------------------------------------
declare -A elf=([amd64]="x86-64" [arm64]="ARM aarch64" [armhf]="ARM, EABI5")
# check_deb PKG ARCH CONFFILE PATHS...: contents, fields, scripts, lintian.
check_deb() {
	local pkg=$1 arch=$2 conffile=$3
	shift 3
	local deb="$DIST/${pkg}_${VERSION}_${arch}.deb"
	[ -f "$deb" ] || fail "$deb missing"
	local list path
	list="$(dpkg-deb -c "$deb")"
	for path in ./usr/bin/$pkg ./lib/systemd/system/$pkg.service ".$conffile" ./var/lib/$pkg/ \
		./usr/share/doc/$pkg/copyright ./usr/share/doc/$pkg/changelog.gz ./usr/share/doc/$pkg/install.md \
		./usr/share/lintian/overrides/$pkg ./usr/share/man/man1/$pkg.1.gz "$@"; do
		grep -qE " ${path//./\\.}\$" <<<"$list" || fail "$deb lacks $path"
	done
	grep -E " \./usr/bin/$pkg$" <<<"$list" | grep -q '^-rwxr-xr-x root/root' || fail "$deb: /usr/bin/$pkg not 0755 root"
	grep -E " \./var/lib/$pkg/$" <<<"$list" | grep -q '^drwxr-x---' || fail "$deb: /var/lib/$pkg not 0750"
	[ "$(dpkg-deb -f "$deb" Package)" = "$pkg" ] || fail "$deb: Package"
	[ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "$deb: Architecture $(dpkg-deb -f "$deb" Architecture), want $arch"
	[ "$(dpkg-deb -f "$deb" Version)" = "$VERSION" ] || fail "$deb: Version $(dpkg-deb -f "$deb" Version), want $VERSION"
	local ctrl="$work/ctrl-$pkg-$arch"
	dpkg-deb -e "$deb" "$ctrl"
	grep -qx "$conffile" "$ctrl/conffiles" || fail "$deb: $conffile is not a conffile"
	local s
	for s in postinst prerm postrm; do
		[ -x "$ctrl/$s" ] || fail "$deb: no executable $s"
		sh -n "$ctrl/$s" || fail "$deb: $s does not parse"
	done
	local x="$work/x-$pkg-$arch"
	dpkg-deb -x "$deb" "$x"
	cmp -s "$x/lib/systemd/system/$pkg.service" "packaging/systemd/$pkg.service" || fail "$deb: unit differs from packaging/systemd/$pkg.service"
	head -1 "$x/usr/share/doc/$pkg/copyright" | grep -q '^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' ||
		fail "$deb: copyright is not machine-readable"
	zcat "$x/usr/share/doc/$pkg/changelog.gz" | head -1 | grep -qF "$pkg ($VERSION) " || fail "$deb: changelog has no entry for $VERSION"
	if command -v file >/dev/null 2>&1; then
		local f
		f="$(file -b "$x/usr/bin/$pkg")"
		grep -q "ELF" <<<"$f" && grep -q "${elf[$arch]}" <<<"$f" || fail "$deb: binary is $f, want ELF ${elf[$arch]}"
		grep -q "statically linked" <<<"$f" || fail "$deb: binary is not static: $f"
	fi
	# lintian: no error; warnings and info are shown, not fatal.
	local l
	l="$(lintian --tag-display-limit 0 "$deb" 2>&1 | grep -v 'running with root privileges' || true)"
	if grep -q '^E: ' <<<"$l"; then
		fail "lintian $deb:
$l"
	fi
	ok "$deb contents; lintian: $(grep -c '^E: ' <<<"$l" || true) errors, $(grep -c '^W: ' <<<"$l" || true) warnings${l:+
$l}"
}
for arch in amd64 arm64 armhf; do
	check_deb edgegw "$arch" /etc/edgegw/edgegw.yaml \
		./lib/udev/rules.d/60-edgegw-gpio.rules ./usr/share/man/man1/edgegw-status.1.gz \
		./usr/share/edgegw/monitoring/edgegw-fleet.json ./usr/share/edgegw/monitoring/edgegw.rules.yml
	grep -E " \./etc/edgegw/edgegw\.yaml$" <<<"$(dpkg-deb -c "$DIST/edgegw_${VERSION}_${arch}.deb")" | grep -q '^-rw-r-----' ||
		fail "edgegw $arch: /etc/edgegw/edgegw.yaml not 0640"
done
for arch in amd64 arm64; do
	check_deb edgecentral "$arch" /etc/default/edgecentral ./usr/share/man/man1/edgecentral-serve.1.gz ./usr/share/doc/edgecentral/central.md
done
grep -q '^ExecStart=/usr/bin/edgecentral serve --data /var/lib/edgecentral ' packaging/systemd/edgecentral.service ||
	fail "edgecentral.service does not run edgecentral serve --data /var/lib/edgecentral"
if command -v systemd-analyze >/dev/null 2>&1; then
	# Offline syntax check of the unit (unknown keys, bad values). The binary
	# it names is the amd64 one from the package tree.
	for pkg in edgegw edgecentral; do
		v="$(systemd-analyze verify --root="$work/x-$pkg-amd64" /lib/systemd/system/$pkg.service 2>&1 || true)"
		if grep -qiE "unknown (key|section)|failed to parse|invalid" <<<"$v"; then
			fail "systemd-analyze verify $pkg.service: $v"
		fi
		ok "systemd-analyze verify $pkg.service (${v:-no warnings})"
	done
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
state() { dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${db:Status-Abbrev}${Version}' "${1:-edgegw}" 2>/dev/null || true; }

deb1="$DIST/edgegw_${VERSION}_amd64.deb"
"${DPKG[@]}" -i "$deb1" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "install into scratch root"; }
grep -q "DPKG_ROOT=" "$work/install.log" || fail "postinst did not detect DPKG_ROOT: $(cat "$work/install.log")"
for step in "edit /etc/edgegw/edgegw.yaml" "edgegw validate /etc/edgegw/edgegw.yaml" "systemctl enable --now edgegw"; do
	grep -qF "$step" "$work/install.log" || fail "postinst did not print the next step '$step': $(cat "$work/install.log")"
done
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
! grep -q "Next steps" "$work/upgrade.log" || fail "an upgrade printed the first install's next steps"
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

# edgecentral: install, remove (config and data kept), purge (both gone).
"${DPKG[@]}" -i "$DIST/edgecentral_${VERSION}_amd64.deb" >"$work/c-install.log" 2>&1 || { cat "$work/c-install.log"; fail "install edgecentral"; }
[ "$(state edgecentral)" = "ii $VERSION" ] || fail "edgecentral after install: state '$(state edgecentral)'"
grep -qF "systemctl enable --now edgecentral" "$work/c-install.log" || fail "edgecentral postinst printed no next steps: $(cat "$work/c-install.log")"
"$root/usr/bin/edgecentral" help >"$work/c-help.log" 2>&1 || fail "installed edgecentral does not run: $(cat "$work/c-help.log")"
echo "EDGECENTRAL_OPTS=\"--listen 0.0.0.0:8700\"" >>"$root/etc/default/edgecentral"
echo data >"$root/var/lib/edgecentral/MANIFEST"
"${DPKG[@]}" -r edgecentral >"$work/c-remove.log" 2>&1 || { cat "$work/c-remove.log"; fail "remove edgecentral"; }
[ "$(state edgecentral)" = "rc $VERSION" ] || fail "edgecentral after remove: state '$(state edgecentral)'"
grep -q "0.0.0.0:8700" "$root/etc/default/edgecentral" || fail "remove deleted /etc/default/edgecentral"
[ -f "$root/var/lib/edgecentral/MANIFEST" ] || fail "remove deleted the edgecentral data"
"${DPKG[@]}" -P edgecentral >"$work/c-purge.log" 2>&1 || { cat "$work/c-purge.log"; fail "purge edgecentral"; }
[ ! -e "$root/etc/default/edgecentral" ] || fail "purge left /etc/default/edgecentral"
[ ! -e "$root/var/lib/edgecentral" ] || fail "purge left /var/lib/edgecentral"
ok "edgecentral: install, remove keeps config and data, purge removes them"

# --- a real install in a throw-away chroot -------------------------------------
# An overlay of this box's root (upper layer in $work) in a new mount and
# network namespace: dpkg, useradd and the SysV script run for real, and
# nothing reaches the host. Skipped (said so) where the box does not allow it.
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && unshare -m -n true 2>/dev/null; then
	ov="$work/ov"
	mkdir -p "$ov/upper/root/check" "$ov/work" "$ov/merged"
	cp "$DIST/edgegw_${VERSION}_amd64.deb" scripts/chroot/deb-lifecycle.sh "$ov/upper/root/check/"
	if unshare -m -n sh -c '
		set -e
		ov=$1
		mount -t overlay overlay -o "lowerdir=/,upperdir=$ov/upper,workdir=$ov/work" "$ov/merged"
		mount -t proc proc "$ov/merged/proc"
		mount --rbind /dev "$ov/merged/dev"
		mount -t tmpfs tmpfs "$ov/merged/run"
		exec chroot "$ov/merged" /root/check/deb-lifecycle.sh /root/check/'"edgegw_${VERSION}_amd64.deb"'
	' sh "$ov" >"$work/chroot.log" 2>&1; then
		sed 's/^chroot: ok: /check-artifacts: ok: chroot: /' "$work/chroot.log"
	else
		cat "$work/chroot.log"
		fail "the .deb in a chroot without systemd"
	fi
else
	echo "check-artifacts: skip: chroot install (needs root, unshare and overlayfs)"
fi

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
for f in edgegw/edgegw.exe edgegw/edgegw.example.yaml edgegw/install.ps1 edgegw/uninstall.ps1 edgegw/install.md; do
	grep -qx "$f" <<<"$zl" || fail "$zipf lacks $f"
done
# The zip's example is the Windows one (COM ports, no /dev/ paths, no GPIO),
# and it validates.
zx="$work/zip"
mkdir -p "$zx"
if command -v unzip >/dev/null 2>&1; then
	unzip -q -d "$zx" "$zipf" edgegw/edgegw.example.yaml edgegw/install.ps1 edgegw/uninstall.ps1
else
	python3 -c 'import sys,zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$zipf" "$zx"
fi
grep -q "port: COM" "$zx/edgegw/edgegw.example.yaml" || fail "the zip's example config names no COM port"
! grep -qE "/dev/|driver: gpio" "$zx/edgegw/edgegw.example.yaml" || fail "the zip's example config has Linux ports or GPIO"
"$work/x-edgegw-amd64/usr/bin/edgegw" validate "$zx/edgegw/edgegw.example.yaml" >/dev/null || fail "the zip's example config does not validate"
# The scripts do what docs/install.md says (PowerShell cannot run here).
grep -q "sc.exe failure edgegw" "$zx/edgegw/install.ps1" || fail "install.ps1 sets no recovery actions"
grep -q 'Copy-Item .*uninstall.ps1' "$zx/edgegw/install.ps1" || fail "install.ps1 does not install uninstall.ps1"
grep -q 'param(\[switch\]\$Purge)' "$zx/edgegw/uninstall.ps1" || fail "uninstall.ps1 has no -Purge switch"
grep -q 'service uninstall' "$zx/edgegw/uninstall.ps1" || fail "uninstall.ps1 does not uninstall the service"
! cat "$zx/edgegw/install.ps1" "$zx/edgegw/uninstall.ps1" | grep -v '^ *#' | grep -q '2>\$null' || fail "a .ps1 redirects native stderr (fatal under Stop in PowerShell 5.1)"
ok "$zipf contents (Windows example config validates; install.ps1, uninstall.ps1)"
echo "check-artifacts: all ok"
