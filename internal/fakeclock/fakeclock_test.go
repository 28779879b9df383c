package fakeclock

import (
	"testing"
	"time"
)

func TestAfterFiresInOrder(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := New(t0)
	a := c.After(2 * time.Second)
	b := c.After(time.Second)
	if got, want := c.Waiters(), 2; got != want {
		t.Fatalf("waiters: got %d, want %d", got, want)
	}
	c.Advance(time.Second)
	select {
	case got := <-b:
		if want := t0.Add(time.Second); !got.Equal(want) {
			t.Fatalf("b fired at %v, want %v", got, want)
		}
	default:
		t.Fatal("b did not fire at its deadline")
	}
	select {
	case <-a:
		t.Fatal("a fired early")
	default:
	}
	c.Advance(time.Second)
	select {
	case <-a:
	default:
		t.Fatal("a did not fire")
	}
	if got := c.Waiters(); got != 0 {
		t.Fatalf("waiters after firing: got %d, want 0", got)
	}
}

func TestAfterNonPositiveFiresAtOnce(t *testing.T) {
	c := New(time.Unix(0, 0))
	select {
	case <-c.After(0):
	default:
		t.Fatal("After(0) did not fire at once")
	}
}

func TestBlockUntil(t *testing.T) {
	c := New(time.Unix(0, 0))
	done := make(chan struct{})
	go func() {
		<-c.After(time.Minute)
		close(done)
	}()
	if !c.BlockUntil(1, 10*time.Second) {
		t.Fatal("the goroutine never waited on the clock")
	}
	c.Advance(time.Minute)
	<-done
	if c.BlockUntil(1, time.Millisecond) {
		t.Fatal("BlockUntil reported a waiter that is gone")
	}
}
