package jsstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgegw/edgegw/internal/natstest"
)

// A handler that fails gets the message again; a consumer restarted under
// the same name continues after what it acknowledged.
func TestConsume(t *testing.T) {
	_, nc := natstest.Embedded(t)
	s := open(t, nc, Options{})
	addGW(t, s, "gw1", "putuo/caoyang")
	addGW(t, s, "gw2", "putuo/other")
	s.StoreBatch("gw1", readings(1, 1, 10), time.Now())
	s.StoreBatch("gw2", readings(1, 1, 10), time.Now())
	s.StoreBatch("gw1", readings(1, 11, 5), time.Now())

	got := make(chan int, 10)
	failed := false
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := ConsumerConfig{Name: "export-test", Scopes: []string{"putuo/caoyang"}, RetryDelay: 10 * time.Millisecond}
	go func() {
		done <- Consume(ctx, s.JetStream(), cfg, func(_ context.Context, b *Batch, attempt uint64) error {
			if !failed {
				failed = true
				return errors.New("downstream down")
			}
			if b.Gateway != "gw1" {
				t.Errorf("scope: got gateway %s", b.Gateway)
			}
			got <- len(b.Events)
			return nil
		})
	}()
	// A failed message comes back after RetryDelay, possibly behind later ones.
	sum := 0
	for range 2 {
		select {
		case n := <-got:
			sum += n
		case <-time.After(10 * time.Second):
			t.Fatal("no delivery")
		}
	}
	if sum != 15 {
		t.Errorf("got %d events, want 15", sum)
	}
	cancel()
	<-done
	// Restarted: only what comes after.
	s.StoreBatch("gw1", readings(1, 16, 3), time.Now())
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go Consume(ctx, s.JetStream(), cfg, func(_ context.Context, b *Batch, _ uint64) error {
		got <- len(b.Events)
		return nil
	})
	select {
	case n := <-got:
		if n != 3 {
			t.Errorf("after restart: got %d events, want 3", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery after restart")
	}
}
