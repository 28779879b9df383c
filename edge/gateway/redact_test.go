package gateway

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/edge/config"
)

// secretFields are the config's secret and personal fields, by YAML path
// (a [] stands for every element). Each is filled with a marker by
// TestRedactConfigEverySecret; TestSecretFieldsKnown fails when the config
// grows a field named like a secret that is not listed here.
var secretFields = map[string]string{
	"uplink.key":             "uplink-key-0123456789abcdef",
	"uplink.client_key":      "/etc/edgegw/client-key-path.pem",
	"status.password_hash":   "pbkdf2-sha256$600000$c2FsdA$aGFzaA",
	"rules[].actions[].sms":  "+8613800000042",
	"outputs[].options.to":   "+8613800000043", // the SMS modem's recipients
	"outputs[].options.pin":  "4321",
	"inputs[].options.token": "driver-token-xyz",
	// Public release keys: no secret, but named like one; the support
	// bundle leaves them out like every key.
	"update.keys": "ed25519:0123456789abcdef:release-key-marker",
}

const secretsConfig = `# comments go: they may hold a secret too (uplink-key-in-comment)
gateway: {id: gw-7, site: Test}
store: {dir: /var/lib/edgegw}
update: {keys: ["ed25519:0123456789abcdef:release-key-marker"]}
uplink:
  url: https://gw-7:url-password-999@central.example.org/api
  key: uplink-key-0123456789abcdef
  key_file: /etc/edgegw/uplink.key
  client_cert: /etc/edgegw/client.pem
  client_key: /etc/edgegw/client-key-path.pem
status:
  listen: 0.0.0.0:8780
  password_hash: "pbkdf2-sha256$600000$c2FsdA$aGFzaA"
inputs:
  - name: line
    driver: serial
    options: {port: /dev/ttyUSB0, token: driver-token-xyz}
outputs:
  - name: sms
    driver: sms
    options: {port: /dev/ttyUSB3, pin: 4321, to: ["+8613800000043"]}
rules:
  - name: door
    when: event.text == "open"
    message: "door open at {{.Device.Location}}"
    actions:
      - {sms: ["+8613800000042"], via: sms, text: "door open"}
      - {output: sign, op: send, text: "DOOR"}
`

func TestRedactConfigEverySecret(t *testing.T) {
	out, secrets, err := RedactConfig([]byte(secretsConfig))
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for field, v := range secretFields {
		if strings.Contains(got, v) {
			t.Errorf("%s: value %q left in:\n%s", field, v, got)
		}
	}
	for _, leak := range []string{"url-password-999", "uplink-key-in-comment"} {
		if strings.Contains(got, leak) {
			t.Errorf("%q left in:\n%s", leak, got)
		}
	}
	for _, kept := range []string{"gw-7", "https://gw-7:<redacted>@central.example.org/api", "/etc/edgegw/uplink.key",
		"/etc/edgegw/client.pem", "/dev/ttyUSB3", "0.0.0.0:8780", `event.text == "open"`, "door open at"} {
		if !strings.Contains(got, kept) {
			t.Errorf("lost %q:\n%s", kept, got)
		}
	}
	// The values long enough to scrub elsewhere are returned; a 4-digit PIN
	// is not (it would blank every 4321 of the logs).
	for _, v := range []string{secretFields["uplink.key"], secretFields["status.password_hash"], secretFields["rules[].actions[].sms"],
		secretFields["outputs[].options.to"], "url-password-999"} {
		if !slices.Contains(secrets, v) {
			t.Errorf("secrets %q lack %q", secrets, v)
		}
	}
	if slices.Contains(secrets, "4321") {
		t.Errorf("secrets %q hold the short PIN", secrets)
	}
}

// TestSecretFieldsKnown walks the config's types: every field whose YAML
// name says secret must be in secretFields (so it is tested above), and
// every entry of secretFields outside driver options must exist.
func TestSecretFieldsKnown(t *testing.T) {
	var paths []string
	var walk func(tp reflect.Type, path string, depth int)
	walk = func(tp reflect.Type, path string, depth int) {
		for tp.Kind() == reflect.Pointer || tp.Kind() == reflect.Slice {
			if tp.Kind() == reflect.Slice {
				path += "[]"
			}
			tp = tp.Elem()
		}
		if tp.Kind() != reflect.Struct || depth > 8 {
			return
		}
		for i := 0; i < tp.NumField(); i++ {
			f := tp.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			paths = append(paths, p)
			walk(f.Type, p, depth+1)
		}
	}
	walk(reflect.TypeFor[config.Config](), "", 0)
	if len(paths) < 40 {
		t.Fatalf("walked only %d fields: %v", len(paths), paths)
	}
	for _, p := range paths {
		last := p[strings.LastIndex(p, ".")+1:]
		last = strings.TrimSuffix(last, "[]")
		if secretKey(last) {
			if _, ok := secretFields[p]; !ok {
				t.Errorf("config field %s is named like a secret but not in secretFields: add it and its marker", p)
			}
		}
	}
	for f := range secretFields {
		if !strings.Contains(f, ".options.") && !slices.Contains(paths, f) {
			t.Errorf("secretFields names %s, which the config does not have", f)
		}
	}
}

func TestSecretKey(t *testing.T) {
	for k, want := range map[string]bool{
		"key": true, "api_key": true, "password_hash": true, "pin": true, "sim-pin": true, "apiKey": true,
		"client_secret": true, "token": true, "Password": true, "keys": true, "sms": true, "to": true,
		"phone": true, "recipients": true, "client_key": true,
		"mapping": false, "keepalive": false, "monkey": false, "spinner": false, "id": false, "port": false, "url": false,
		"key_file": false, "ca_file": false, "total": false, "topic": false, "passive": false, "bypass": false,
	} {
		if got := secretKey(k); got != want {
			t.Errorf("secretKey(%q) = %v, want %v", k, got, want)
		}
	}
}

func TestScrub(t *testing.T) {
	got := string(scrub([]byte("sent to +8613800000042 with key abcdef123456\n"), []string{"+8613800000042", "abcdef123456"}))
	if want := "sent to <redacted> with key <redacted>\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func FuzzRedactConfig(f *testing.F) {
	f.Add([]byte(secretsConfig))
	f.Add([]byte("a: {password: x}\nb: [ {api_key: y} ]\n"))
	f.Add([]byte("- pbkdf2-sha256$1$2$3\n"))
	f.Add([]byte("u: http://a:SECRETVALUE@h/\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, _, err := RedactConfig(b)
		if err != nil {
			return
		}
		for _, prefix := range []string{"password: ", "key: ", "sms: "} {
			if strings.Contains(string(b), prefix+"SECRETVALUE\n") && strings.Contains(string(out), "SECRETVALUE") {
				t.Fatalf("leaked SECRETVALUE under %q:\n%s", prefix, out)
			}
		}
	})
}
