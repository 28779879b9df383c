package service

// SysvTemplate is the init script `edgegw service install` writes on a Linux
// box without systemd (kardianos/service's SysV fallback), in its template
// syntax; kardianos fills Path, Arguments, LogDirectory and EnvVars.
// Differences from the library's own script, on purpose:
//   - the gateway runs as user (the edgegw system user the .deb makes), not
//     as root: setpriv (util-linux) drops to it, with its groups (dialout,
//     gpio), before the binary starts; without setpriv the script refuses
//     to start rather than run the gateway as root. An empty user (no edgegw
//     account: DetectUser) keeps root, as the systemd unit does.
//   - the arguments are passed as shell words (the library's script splits
//     a string and would break a config path with a space);
//   - stop waits up to 30 s for the drain (the library gives up after 10 s);
//   - /etc/default/edgegw is read, as by the systemd unit.
func SysvTemplate(name, user string) string {
	return `#!/bin/sh
# ` + name + `: the edge gateway, started by SysV init (written by
# "edgegw service install" on a box without systemd).
### BEGIN INIT INFO
# Provides:          ` + name + `
# Required-Start:    $local_fs $remote_fs $syslog
# Required-Stop:     $local_fs $remote_fs $syslog
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: {{DisplayName}}
# Description:       {{Description}}
### END INIT INFO

name=` + name + `
user=` + user + `
pid_file="/var/run/$name.pid"
stdout_log="{{LogDirectory}}/$name.log"
stderr_log="{{LogDirectory}}/$name.err"
{{range EnvVars}}{{.}}
{{end}}[ -r /etc/default/$name ] && . /etc/default/$name

is_running() {
	[ -f "$pid_file" ] && [ -e "/proc/$(cat "$pid_file")/stat" ]
}

# run_gateway runs in the background subshell and replaces it (exec), so
# that $! is the gateway's pid.
run_gateway() {
	if [ -n "$user" ]; then
		exec setpriv --reuid="$user" --regid="$user" --init-groups -- "{{Path}}"{{range Arguments}} {{. | cmd}}{{end}}
	fi
	exec "{{Path}}"{{range Arguments}} {{. | cmd}}{{end}}
}

case "$1" in
start)
	if is_running; then
		echo "$name already started"
		exit 0
	fi
	if [ -n "$user" ]; then
		if ! id "$user" >/dev/null 2>&1; then
			echo "$name: no user $user; not starting it as root" >&2
			exit 1
		fi
		if ! command -v setpriv >/dev/null 2>&1; then
			echo "$name: setpriv (util-linux) is missing; not starting it as root" >&2
			exit 1
		fi
	fi
	echo "Starting $name${user:+ as $user}"
	{{if WorkingDirectory}}cd '{{WorkingDirectory}}' || exit 1
	{{end}}run_gateway >>"$stdout_log" 2>>"$stderr_log" &
	echo $! >"$pid_file"
	sleep 1
	if ! is_running; then
		echo "$name did not start; see $stderr_log" >&2
		exit 1
	fi
	;;
stop)
	if ! is_running; then
		echo "$name not running"
		rm -f "$pid_file"
		exit 0
	fi
	printf "Stopping %s" "$name"
	kill "$(cat "$pid_file")"
	i=0
	while is_running && [ $i -lt 30 ]; do
		printf "."
		sleep 1
		i=$((i + 1))
	done
	echo
	if is_running; then
		echo "$name did not stop within 30 s" >&2
		exit 1
	fi
	rm -f "$pid_file"
	;;
restart)
	"$0" stop && "$0" start
	;;
status)
	if is_running; then
		echo "$name running"
	else
		echo "$name stopped"
		exit 3
	fi
	;;
*)
	echo "Usage: $0 {start|stop|restart|status}" >&2
	exit 2
	;;
esac
exit 0
`
}
