package main

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/sync/export"
	"github.com/edgegw/edgegw/sync/export/webhook"
)

// exportFlags are serve's northbound exporter flags (docs/central.md,
// northbound exporters).
type exportFlags struct {
	scope                      string
	maxAttempts                int
	webhook, webhookSecretFile string
	webhookTimeout             time.Duration
}

func (o *exportFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&o.scope, "export-scope", o.scope, "place prefixes the exporters take, comma-separated (putuo/caoyang); default all")
	fs.IntVar(&o.maxAttempts, "export-max-attempts", o.maxAttempts, "attempts per delivery before its events count as dead letters (logged with their keys, acknowledged)")
	fs.StringVar(&o.webhook, "export-webhook", o.webhook, "POST the events to this URL (signed; consumer export-webhook)")
	fs.StringVar(&o.webhookSecretFile, "export-webhook-secret-file", o.webhookSecretFile, "file holding the webhook's HMAC-SHA256 secret (required with --export-webhook)")
	fs.DurationVar(&o.webhookTimeout, "export-webhook-timeout", o.webhookTimeout, "bound of one webhook request")
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
		secret, err := os.ReadFile(o.webhookSecretFile)
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
	return out, nil
}
