package main

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/sync/export"
	"github.com/edgegw/edgegw/sync/export/mqtt"
	"github.com/edgegw/edgegw/sync/export/pgsink"
	"github.com/edgegw/edgegw/sync/export/webhook"
)

// maxSecretFile bounds a secret or password file given by a flag.
const maxSecretFile = 64 << 10

// exportFlags are serve's northbound exporter flags (docs/central.md,
// northbound exporters).
type exportFlags struct {
	scope                      string
	maxAttempts                int
	webhook, webhookSecretFile string
	webhookTimeout             time.Duration
	mqtt, mqttProduct          string
	mqttPropertyTopic          string
	mqttEventTopic             string
	mqttUser, mqttPasswordFile string
	postgres                   string
}

func (o *exportFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&o.scope, "export-scope", o.scope, "place prefixes the exporters take, comma-separated (putuo/caoyang, putuo/caoyang/c012/cp07/3); default all")
	fs.IntVar(&o.maxAttempts, "export-max-attempts", o.maxAttempts, "attempts per delivery before its events count as dead letters (logged with their keys, acknowledged)")
	fs.StringVar(&o.webhook, "export-webhook", o.webhook, "POST the events to this URL (signed; consumer export-webhook)")
	fs.StringVar(&o.webhookSecretFile, "export-webhook-secret-file", o.webhookSecretFile, "file holding the webhook's HMAC-SHA256 secret (required with --export-webhook)")
	fs.DurationVar(&o.webhookTimeout, "export-webhook-timeout", o.webhookTimeout, "bound of one webhook request")
	fs.StringVar(&o.mqtt, "export-mqtt", o.mqtt, "publish the events to this MQTT broker, QoS 1 (tcp://host:1883, ssl://host:8883; consumer export-mqtt)")
	fs.StringVar(&o.mqttProduct, "export-mqtt-product", o.mqttProduct, "the {product} of the MQTT topics")
	fs.StringVar(&o.mqttPropertyTopic, "export-mqtt-property-topic", o.mqttPropertyTopic, "topic template of readings, states and statuses ({product} {device} {gateway} {path} {building} {unit} {household})")
	fs.StringVar(&o.mqttEventTopic, "export-mqtt-event-topic", o.mqttEventTopic, "topic template of alerts, gaps and actions ({product} {device} {gateway} {path} {building} {unit} {household} {id})")
	fs.StringVar(&o.mqttUser, "export-mqtt-user", o.mqttUser, "MQTT user name; default none")
	fs.StringVar(&o.mqttPasswordFile, "export-mqtt-password-file", o.mqttPasswordFile, "file holding the MQTT password")
	fs.StringVar(&o.postgres, "export-postgres", o.postgres, "write events and alerts into PostgreSQL (postgres://user@host:5432/db; a password from PGPASSWORD or ~/.pgpass; consumer export-postgres)")
}

// exporters builds the exporters the flags ask for.
func (o *exportFlags) exporters(log *slog.Logger) ([]export.Exporter, error) {
	common := func(name string) export.Options {
		return export.Options{Scopes: splitList(o.scope), MaxAttempts: o.maxAttempts,
			Logger: log.With("component", "export-"+name)}
	}
	var out []export.Exporter
	if o.webhook != "" {
		if o.webhookSecretFile == "" {
			return nil, usageErr("--export-webhook needs --export-webhook-secret-file")
		}
		secret, err := edge.ReadFileLimit(o.webhookSecretFile, maxSecretFile)
		if err != nil {
			return nil, fmt.Errorf("--export-webhook-secret-file: %w: %w", err, edge.ErrInvalidConfig)
		}
		if secret = bytes.TrimSpace(secret); len(secret) == 0 {
			return nil, fmt.Errorf("--export-webhook-secret-file %s: empty: %w", o.webhookSecretFile, edge.ErrInvalidConfig)
		}
		e, err := webhook.New(webhook.Config{URL: o.webhook, Secret: secret, Timeout: o.webhookTimeout, Options: common("webhook")})
		if err != nil {
			return nil, fmt.Errorf("--export-webhook: %w: %w", err, edge.ErrInvalidConfig)
		}
		out = append(out, e)
	}
	if o.mqtt != "" {
		password := ""
		if o.mqttPasswordFile != "" {
			b, err := edge.ReadFileLimit(o.mqttPasswordFile, maxSecretFile)
			if err != nil {
				return nil, fmt.Errorf("--export-mqtt-password-file: %w: %w", err, edge.ErrInvalidConfig)
			}
			password = string(bytes.TrimSpace(b))
		}
		e, err := mqtt.New(mqtt.Config{Broker: o.mqtt, Product: o.mqttProduct, PropertyTopic: o.mqttPropertyTopic,
			EventTopic: o.mqttEventTopic, Username: o.mqttUser, Password: password, Options: common("mqtt")})
		if err != nil {
			return nil, fmt.Errorf("--export-mqtt: %w: %w", err, edge.ErrInvalidConfig)
		}
		out = append(out, e)
	}
	if o.postgres != "" {
		e, err := pgsink.New(pgsink.Config{DSN: o.postgres, Options: common("postgres")})
		if err != nil {
			return nil, fmt.Errorf("--export-postgres: %w: %w", err, edge.ErrInvalidConfig)
		}
		out = append(out, e)
	}
	return out, nil
}
