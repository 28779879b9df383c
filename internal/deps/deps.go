// Package deps pins modules that are about to be used, so that parallel work
// does not race on go.mod. It is removed once every module has a real importer.
package deps

import (
	_ "github.com/creack/pty"
	_ "github.com/dgraph-io/badger/v4"
	_ "github.com/expr-lang/expr"
	_ "github.com/goccy/go-yaml"
	_ "github.com/hashicorp/go-retryablehttp"
	_ "github.com/kardianos/service"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/common/expfmt"
	_ "go.bug.st/serial"
	_ "go.bug.st/serial/enumerator"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/sys/unix"
)

import (
	_ "github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb"
)
