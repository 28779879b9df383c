#!/bin/sh
# Runs inside the throw-away chroot of scripts/check-artifacts.sh (an
# overlay of the build box, no systemd running, its own network namespace):
# a real `dpkg -i` of the edgegw .deb, the SysV fallback started as user
# edgegw, then remove (data kept) and purge (data gone). $1: the .deb.
set -eu
deb=$1
fail() { echo "chroot: FAIL: $*" >&2; exit 1; }
[ ! -d /run/systemd/system ] || fail "systemd runs in the chroot"
ip link set lo up 2>/dev/null || true
# A fresh box: no leftovers of a gateway run on the build box (the overlay
# shows its /var/lib/edgegw, maybe root-owned).
rm -rf /var/lib/edgegw /etc/edgegw /etc/init.d/edgegw

dpkg -i "$deb" >/tmp/install.log 2>&1 || { cat /tmp/install.log; fail "dpkg -i"; }
grep -qF "systemctl enable --now edgegw" /tmp/install.log || fail "no next steps: $(cat /tmp/install.log)"
id -nG edgegw | grep -qw dialout || fail "edgegw is not in dialout: $(id edgegw)"
id -nG edgegw | grep -qw gpio || fail "edgegw is not in gpio: $(id edgegw)"
[ "$(stat -c %U:%G:%a /var/lib/edgegw)" = edgegw:edgegw:750 ] || fail "/var/lib/edgegw is $(stat -c %U:%G:%a /var/lib/edgegw)"
[ "$(stat -c %U:%G:%a /etc/edgegw/edgegw.yaml)" = root:edgegw:640 ] || fail "edgegw.yaml is $(stat -c %U:%G:%a /etc/edgegw/edgegw.yaml)"
echo "chroot: ok: dpkg -i without systemd: user edgegw (dialout, gpio), /var/lib/edgegw edgegw 0750, config root:edgegw 0640"

# The SysV fallback: kardianos picks it without systemd.
edgegw service install --config /etc/edgegw/edgegw.yaml >/tmp/svc.log 2>&1 || { cat /tmp/svc.log; fail "service install"; }
grep -q "systemv" /tmp/svc.log || echo "chroot: note: service install said: $(cat /tmp/svc.log)"
[ -x /etc/init.d/edgegw ] || fail "no /etc/init.d/edgegw: $(cat /tmp/svc.log)"
grep -qx "user=edgegw" /etc/init.d/edgegw || fail "the init script does not run as edgegw"
/etc/init.d/edgegw start || { cat /var/log/edgegw.err 2>/dev/null; fail "init script start"; }
pid=$(cat /var/run/edgegw.pid)
uid=$(awk '/^Uid:/{print $2}' "/proc/$pid/status")
[ "$uid" = "$(id -u edgegw)" ] || fail "the gateway (pid $pid) runs as uid $uid, want $(id -u edgegw) (edgegw)"
exe=$(readlink "/proc/$pid/exe")
[ "$exe" = /usr/bin/edgegw ] || fail "pid $pid is $exe, not /usr/bin/edgegw"
/etc/init.d/edgegw stop >/dev/null || fail "init script stop"
[ ! -e "/proc/$pid" ] || fail "the gateway still runs after stop"
edgegw service uninstall --config /etc/edgegw/edgegw.yaml >/dev/null 2>&1 || fail "service uninstall"
[ ! -e /etc/init.d/edgegw ] || fail "service uninstall left /etc/init.d/edgegw"
echo "chroot: ok: SysV fallback: /etc/init.d/edgegw ran /usr/bin/edgegw as uid $uid (edgegw), stopped on request"

# A store file left by a run as root: a reinstall says how to fix it.
: >/var/lib/edgegw/by-root
dpkg -i "$deb" >/tmp/reinstall.log 2>&1 || { cat /tmp/reinstall.log; fail "dpkg -i again"; }
grep -qF "are not owned by edgegw" /tmp/reinstall.log || fail "no warning about root-owned data: $(cat /tmp/reinstall.log)"
! grep -q "Next steps" /tmp/reinstall.log || fail "a reinstall printed the first install's next steps"
rm /var/lib/edgegw/by-root
echo "chroot: ok: a reinstall warns about data files not owned by edgegw"

echo data >/var/lib/edgegw/000001.vlog
dpkg -r edgegw >/tmp/remove.log 2>&1 || { cat /tmp/remove.log; fail "dpkg -r"; }
[ -f /var/lib/edgegw/000001.vlog ] || fail "dpkg -r deleted the data"
[ -f /etc/edgegw/edgegw.yaml ] || fail "dpkg -r deleted the config"
dpkg -P edgegw >/tmp/purge.log 2>&1 || { cat /tmp/purge.log; fail "dpkg -P"; }
[ ! -e /var/lib/edgegw ] || fail "dpkg -P left /var/lib/edgegw"
[ ! -e /etc/edgegw ] || fail "dpkg -P left /etc/edgegw"
echo "chroot: ok: dpkg -r keeps config and data, dpkg -P removes them"
