package service

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/edgegw/edgegw/internal/cli"
)

// SystemdTemplate is the unit file, in kardianos/service's template syntax
// ({{Key}}, {{Key | fn}}, {{if Key}}, {{range Key}}); kardianos fills Path,
// Arguments, UserName, Description, Name, Dependencies and EnvVars at
// install. Differences from the library's own template, on purpose:
//   - RestartSec=2, not 120: an alarm gateway must come back at once;
//     StartLimitIntervalSec=0 so systemd never gives up restarting it.
//   - RestartPreventExitStatus: no restart on an invalid config (78) or a
//     usage error (64), which a restart cannot fix: the unit stays failed
//     with the problems in the journal. A full disk (75) is retried every
//     RestartSec like a crash; RestartSteps/RestartMaxDelaySec (systemd
//     254) are left out on purpose: systemd resets the count they grow with
//     only on a manual start, so rare crashes months apart would each wait
//     longer (docs/install.md, "Exit codes").
//   - no After=/Wants=network-online.target: the gateway is offline-first
//     and must run with the network down.
//   - logs to the journal, not to files under /var/log.
//   - sandboxed, yet with the serial and GPIO character devices allowed.
func SystemdTemplate(groups []string) string {
	supp := ""
	if len(groups) > 0 {
		supp = "SupplementaryGroups=" + strings.Join(groups, " ") + "\n"
	}
	return `[Unit]
Description={{Description}}
Documentation=file:/usr/share/doc/edgegw/install.md
ConditionFileIsExecutable={{Path | cmdEscape}}
# Offline-first: no After=/Wants=network-online.target.
StartLimitIntervalSec=0
{{range Dependencies}}{{.}}
{{end}}
[Service]
Type=simple
ExecStart={{Path | cmdEscape}}{{range Arguments}} {{. | cmd}}{{end}}
{{if UserName}}User={{UserName}}
Group={{UserName}}
` + supp + `{{end}}Restart=always
RestartSec=2
RestartPreventExitStatus=` + noRestartCodes() + `
TimeoutStopSec=30
KillMode=mixed
StandardOutput=journal
StandardError=journal
SyslogIdentifier={{Name}}
EnvironmentFile=-/etc/default/{{Name}}
StateDirectory=edgegw
StateDirectoryMode=0750
ConfigurationDirectory=edgegw
UMask=0027

# Sandboxing: read-only system, writable data and config (the gateway keeps
# the last good config pushed by the central platform) and /run/lock (the
# UUCP lock files that keep a serial port from being shared), no privileges.
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ProtectHome=yes
ReadWritePaths=-/var/lib/edgegw -/etc/edgegw -/run/lock
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
# DevicePolicy=closed allows /dev/null, zero, full, random, urandom, plus:
# serial ports (USB adapters, on-board UARTs, CDC-ACM modems) and GPIO chips.
PrivateDevices=no
DevicePolicy=closed
DeviceAllow=char-ttyUSB rw
DeviceAllow=char-ttyACM rw
DeviceAllow=char-ttyS rw
DeviceAllow=char-ttyAMA rw
DeviceAllow=char-gpiochip rw
{{range EnvVars}}{{.}}
{{end}}
[Install]
WantedBy=multi-user.target
`
}

// Unit renders the systemd unit for s exactly as kardianos/service writes
// it at install (the same template, the same data), for the .deb.
func Unit(s Settings) (string, error) {
	s = s.withDefaults()
	if s.Executable == "" || s.ConfigPath == "" {
		return "", fmt.Errorf("service unit: executable and config path are required")
	}
	data := map[string]any{
		"Description":  "edgegw: offline-first edge gateway (devices, local alarms, sync with the central platform)",
		"Path":         s.Executable,
		"Name":         s.Name,
		"Dependencies": []string(nil),
		"Arguments":    s.Arguments(),
		"UserName":     s.UserName,
		"EnvVars":      []string(nil),
	}
	return render(SystemdTemplate(s.Groups), data)
}

// render is the subset of kardianos/service's template engine the unit
// uses. kardianos's engine is unexported; TestUnitMatchesKardianos checks
// that both render the same text.
func render(tpl string, data map[string]any) (string, error) {
	var b strings.Builder
	if err := renderInto(&b, tpl, data, ""); err != nil {
		return "", err
	}
	return b.String(), nil
}

var tfuncs = map[string]func(string) string{
	"cmd":       func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` },
	"cmdEscape": func(s string) string { return strings.ReplaceAll(s, " ", `\x20`) },
}

func renderInto(b *strings.Builder, tpl string, data map[string]any, dot string) error {
	for tpl != "" {
		i := strings.Index(tpl, "{{")
		if i < 0 {
			b.WriteString(tpl)
			return nil
		}
		b.WriteString(tpl[:i])
		j := strings.Index(tpl[i:], "}}")
		if j < 0 {
			return fmt.Errorf("unclosed {{")
		}
		action := strings.TrimSpace(tpl[i+2 : i+j])
		tpl = tpl[i+j+2:]
		kw, key, _ := strings.Cut(action, " ")
		switch kw {
		case "if", "range":
			body, rest, err := block(tpl)
			if err != nil {
				return err
			}
			tpl = rest
			v, ok := data[strings.TrimSpace(key)]
			if !ok {
				return fmt.Errorf("unknown template key %q", key)
			}
			if kw == "if" {
				if truthy(v) {
					if err := renderInto(b, body, data, dot); err != nil {
						return err
					}
				}
				continue
			}
			items, _ := v.([]string)
			for _, it := range items {
				if err := renderInto(b, body, data, it); err != nil {
					return err
				}
			}
		default:
			parts := strings.Split(action, "|")
			name := strings.TrimSpace(parts[0])
			var s string
			if name == "." {
				s = dot
			} else {
				v, ok := data[name].(string)
				if !ok {
					return fmt.Errorf("template key %q is not a string", name)
				}
				s = v
			}
			for _, f := range parts[1:] {
				fn, ok := tfuncs[strings.TrimSpace(f)]
				if !ok {
					return fmt.Errorf("unknown template function %q", f)
				}
				s = fn(s)
			}
			b.WriteString(s)
		}
	}
	return nil
}

// block splits src at the {{end}} that closes the block it starts in.
func block(src string) (body, rest string, err error) {
	depth := 0
	for k := 0; k < len(src); {
		i := strings.Index(src[k:], "{{")
		if i < 0 {
			break
		}
		i += k
		j := strings.Index(src[i:], "}}")
		if j < 0 {
			break
		}
		a := strings.TrimSpace(src[i+2 : i+j])
		switch {
		case strings.HasPrefix(a, "if ") || strings.HasPrefix(a, "range "):
			depth++
		case a == "end":
			if depth == 0 {
				return src[:i], src[i+j+2:], nil
			}
			depth--
		}
		k = i + j + 2
	}
	return "", "", fmt.Errorf("missing {{end}}")
}

func truthy(v any) bool {
	switch t := v.(type) {
	case string:
		return t != ""
	case []string:
		return len(t) > 0
	}
	return false
}

// NoRestart are the exit codes a restart cannot fix: the service manager
// must not restart the gateway into them.
var NoRestart = []int{cli.ExitBadConfig, cli.ExitUsage}

func noRestartCodes() string {
	s := make([]string, len(NoRestart))
	for i, c := range NoRestart {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, " ")
}
