package status_test

import (
	"io"
	"log/slog"

	"github.com/edgegw/edgegw/edge/status"
)

func slogNew(ring *status.LogRing, next io.Writer) *slog.Logger {
	return slog.New(ring.Wrap(slog.NewTextHandler(next, nil)))
}

var errTest = errorString("snapshot failed")

type errorString string

func (e errorString) Error() string { return string(e) }
