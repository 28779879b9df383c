// Package config declares, defaults, strict-decodes and validates the
// gateway's YAML config. Every error names file:line and the field.
package config

import "github.com/goccy/go-yaml/ast"

// Config is the whole gateway config file.
type Config struct {
	Gateway Gateway  `yaml:"gateway"`
	Store   Store    `yaml:"store"`
	Log     Log      `yaml:"log"`
	Inputs  []Input  `yaml:"inputs"`
	Outputs []Output `yaml:"outputs"`
	Rules   []Rule   `yaml:"rules"`
	Uplink  Uplink   `yaml:"uplink"`
	Status  Status   `yaml:"status"`
	Update  Update   `yaml:"update"`

	file    string              // the name it was parsed from
	root    ast.Node            // the parsed file, for Errorf's file:line
	anchors map[string]ast.Node // &anchors seen while decoding, for options
}

// Gateway identifies this box.
type Gateway struct {
	// ID is the gateway's id at the central platform. Required.
	ID string `yaml:"id"`
	// Site is a human name for the compound. Default: the ID.
	Site string `yaml:"site"`
	// Timezone is the site's IANA time zone, used by rule schedules.
	// Default: "Local".
	Timezone string `yaml:"timezone"`
	// Language is the language of the status page for a browser that asks
	// for none, and of the CLI's messages about this config when LC_ALL,
	// LC_MESSAGES or LANG do not name Chinese or English: "en" or "zh-CN".
	// Default: "" (English).
	Language string `yaml:"language"`
}

// Store configures the durable event log.
type Store struct {
	// Dir is the data directory, as written (a relative path is relative
	// to the working directory). Default: /var/lib/edgegw on Linux,
	// %ProgramData%\edgegw on Windows (DefaultDataDir).
	Dir string `yaml:"dir"`
	// Cap is the byte cap of the store, in bytes on disk (the figure the
	// status page shows); when full the oldest low-priority events are
	// evicted first. Default: 1GiB. Minimum: 16MiB.
	Cap ByteSize `yaml:"cap"`
	// CommitWait bounds how long an event waits for its group commit.
	// Default: 5ms. Range: 0 (written as 0s: commit at once) to 100ms.
	CommitWait Duration `yaml:"commit_wait"`
	// History keeps events that every cursor has passed for this long.
	// Default: 168h (7 days); 0s written keeps none.
	History Duration `yaml:"history"`
	// GCInterval is how often value-log GC and retention run. Default: 5m.
	GCInterval Duration `yaml:"gc_interval"`
	// DiskReserve is the free space the store keeps on its filesystem so
	// that it can always compact and write its manifest; under it the
	// store evicts (lowest priority first, gap records), and past it
	// appends are refused until space returns. Default (0): the larger of
	// 64MiB and 5% of the filesystem, at most half of it. Minimum: 24MiB.
	DiskReserve ByteSize `yaml:"disk_reserve"`
	// MemoryBudget bounds the store's memory: the Go heap's soft limit
	// (Badger's memtables and table builders), the events waiting for a
	// commit, Badger's caches, the table pages kept mapped. Default:
	// 64MiB. Minimum: 32MiB.
	MemoryBudget ByteSize `yaml:"memory_budget"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. Default: info.
	Level string `yaml:"level"`
	// Format is text or json. Default: text.
	Format string `yaml:"format"`
}

// Schema is the config format this build reads (the YAML sections and
// fields of this package). A release manifest's config_schema is the
// oldest format the release reads: a gateway refuses a release that would
// not read its config. Raise it when a change makes older configs invalid.
const Schema = 1
