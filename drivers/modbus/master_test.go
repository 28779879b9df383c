package modbus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/internal/ptytest"
)

// A scripted slave on the far end of a pty pair: for each request it
// expects, it sends what the step says, each piece a given time after the
// request arrived. The delays model a slave's turnaround (they are the
// slave's behaviour under test, not a wait for the master).

type send struct {
	after time.Duration // from the request's arrival
	b     []byte
}

type step struct {
	req   []byte // the request ADU expected
	sends []send
}

type peer struct {
	mu       sync.Mutex
	arrivals []time.Time // when each request arrived
	sent     []time.Time // when each step's last piece went out
	err      error
	done     chan struct{}
}

func runPeer(t *testing.T, pair *ptytest.Pair, steps []step) *peer {
	t.Helper()
	p := &peer{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		var buf []byte
		rb := make([]byte, 256)
		for i, s := range steps {
			for len(buf) < len(s.req) {
				n, err := pair.ReadTimeout(rb, 10*time.Second)
				if err != nil {
					p.fail(fmt.Errorf("step %d: waiting for % x: %v (have % x)", i, s.req, err, buf))
					return
				}
				buf = append(buf, rb[:n]...)
			}
			at := time.Now()
			if !bytes.Equal(buf[:len(s.req)], s.req) {
				p.fail(fmt.Errorf("step %d: got request % x, want % x", i, buf[:len(s.req)], s.req))
				return
			}
			buf = buf[len(s.req):]
			for _, x := range s.sends {
				<-time.After(time.Until(at.Add(x.after)))
				if _, err := pair.Write(x.b); err != nil {
					p.fail(err)
					return
				}
			}
			p.mu.Lock()
			p.arrivals = append(p.arrivals, at)
			p.sent = append(p.sent, time.Now())
			p.mu.Unlock()
		}
		if len(buf) > 0 {
			p.fail(fmt.Errorf("unexpected bytes after the script: % x", buf))
		}
	}()
	return p
}

func (p *peer) fail(err error) {
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
}

// wait waits for the script to end and fails the test on the peer's error.
func (p *peer) wait(t *testing.T) ([]time.Time, []time.Time) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the scripted slave did not finish")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		t.Fatal(p.err)
	}
	return p.arrivals, p.sent
}

func adu(slave byte, p PDU) []byte { return AppendADU(nil, slave, p) }

// reg is the answer of slave to a read of one holding register holding v.
func reg(slave byte, v uint16) []byte { return adu(slave, PDU{3, []byte{2, byte(v >> 8), byte(v)}}) }

func scriptedMaster(t *testing.T, echo bool) (*Master, *ptytest.Pair) {
	t.Helper()
	if !ptytest.Supported {
		t.Skip("no pty on this OS")
	}
	pair := ptytest.New(t)
	m, err := NewMaster(Line{Port: pair.Path(), Baud: 115200, Echo: echo})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, pair
}

// TestMasterScripted runs the master against a slave that misbehaves in
// one exact way per case. In every case the read of holding 45 must return
// 145, slave 1's value of it, never anything else, and the stats must name
// what happened.
func TestMasterScripted(t *testing.T) {
	const timeout = 100 * time.Millisecond
	r40 := adu(1, PDU{3, []byte{0, 40, 0, 1}})
	r45 := adu(1, PDU{3, []byte{0, 45, 0, 1}})
	bad := func(b []byte) []byte { b = slices.Clone(b); b[len(b)-1] ^= 0xA5; return b }
	for _, tc := range []struct {
		name  string
		tx    Tx
		steps []step // the first answers the read of 40, the rest the read of 45
		// first is the error the read of 40 ends with (nil: 140).
		first error
		// idle: the read of 45 starts only once the slave has sent all
		// of its first step (the bus idle in between).
		idle  bool
		check func(t *testing.T, st TxStats, arrivals, sent []time.Time)
	}{{
		// The old master's fault: the late answer to N was taken for N+1's.
		name:  "late answer to N while N+1 is due",
		tx:    Tx{Timeout: timeout},
		steps: []step{{r40, []send{{3 * timeout / 2, reg(1, 140)}}}, {r45, []send{{0, reg(1, 145)}}}},
		first: ErrLate,
		check: func(t *testing.T, st TxStats, arrivals, sent []time.Time) {
			// N+1 went out only after the late answer and a silence longer
			// than the slave's timeout.
			if gap := arrivals[1].Sub(sent[0]); gap < timeout {
				t.Errorf("request N+1 came %v after the late answer to N, want more than the timeout %v", gap, timeout)
			}
		},
	}, {
		// Later still: the late answer to N and the answer to N+1 arrive
		// back to back in N+1's window. Neither is trusted; N+1 is asked
		// again after the line fell silent.
		name: "late answer to N on the heels of N+1's",
		tx:   Tx{Timeout: timeout, Retries: 1},
		steps: []step{
			{r40, nil},
			{r45, []send{{0, append(reg(1, 140), reg(1, 145)...)}}},
			{r45, []send{{0, reg(1, 145)}}},
		},
		first: ErrTimeout,
		check: func(t *testing.T, st TxStats, _, _ []time.Time) {
			if st.Mismatched != 1 || st.Attempts != 2 {
				t.Errorf("stats %+v, want 1 mismatched of 2 attempts", st)
			}
		},
	}, {
		name:  "garbage",
		tx:    Tx{Timeout: timeout, Retries: 1},
		steps: []step{{r40, []send{{0, reg(1, 140)}}}, {r45, []send{{0, []byte{0x12, 0x34, 0x56, 0x01, 0x03}}}}, {r45, []send{{0, reg(1, 145)}}}},
		check: func(t *testing.T, st TxStats, _, _ []time.Time) {
			if st.Mismatched != 1 || st.Garbage != 5 {
				t.Errorf("stats %+v, want 1 mismatched, 5 bytes of garbage", st)
			}
		},
	}, {
		name:  "wrong slave id",
		tx:    Tx{Timeout: timeout, Retries: 1},
		steps: []step{{r40, []send{{0, reg(1, 140)}}}, {r45, []send{{0, reg(2, 245)}}}, {r45, []send{{0, reg(1, 145)}}}},
		check: mismatchedOnce,
	}, {
		name:  "wrong function",
		tx:    Tx{Timeout: timeout, Retries: 1},
		steps: []step{{r40, []send{{0, reg(1, 140)}}}, {r45, []send{{0, adu(1, PDU{4, []byte{2, 0, 145}})}}}, {r45, []send{{0, reg(1, 145)}}}},
		check: mismatchedOnce,
	}, {
		name:  "wrong byte count",
		tx:    Tx{Timeout: timeout, Retries: 1},
		steps: []step{{r40, []send{{0, reg(1, 140)}}}, {r45, []send{{0, adu(1, PDU{3, []byte{4, 0, 145, 0, 146}})}}}, {r45, []send{{0, reg(1, 145)}}}},
		check: mismatchedOnce,
	}, {
		name:  "crc",
		tx:    Tx{Timeout: timeout, Retries: 1},
		steps: []step{{r40, []send{{0, reg(1, 140)}}}, {r45, []send{{0, bad(reg(1, 145))}}}, {r45, []send{{0, reg(1, 145)}}}},
		check: func(t *testing.T, st TxStats, _, _ []time.Time) {
			if st.CRCErrors != 1 || st.Attempts != 2 {
				t.Errorf("stats %+v, want 1 CRC error of 2 attempts", st)
			}
		},
	}, {
		name:  "short frame",
		tx:    Tx{Timeout: timeout, Retries: 1},
		steps: []step{{r40, []send{{0, reg(1, 140)}}}, {r45, []send{{0, reg(1, 145)[:4]}}}, {r45, []send{{0, reg(1, 145)}}}},
		check: func(t *testing.T, st TxStats, _, _ []time.Time) {
			if st.ShortFrames != 1 || st.Attempts != 2 {
				t.Errorf("stats %+v, want 1 short frame of 2 attempts", st)
			}
		},
	}, {
		name: "busy, retried",
		tx:   Tx{Timeout: timeout, BusyRetries: 2, BusyDelay: 50 * time.Millisecond},
		steps: []step{{r40, []send{{0, reg(1, 140)}}},
			{r45, []send{{0, adu(1, PDU{0x83, []byte{6}})}}},
			{r45, []send{{0, adu(1, PDU{0x83, []byte{6}})}}},
			{r45, []send{{0, reg(1, 145)}}}},
		check: func(t *testing.T, st TxStats, arrivals, sent []time.Time) {
			if !slices.Equal(st.Exceptions, []byte{6, 6}) || st.Attempts != 3 {
				t.Errorf("stats %+v, want two busy answers in 3 attempts", st)
			}
			for i := 2; i < 4; i++ {
				if gap := arrivals[i].Sub(sent[i-1]); gap < 50*time.Millisecond {
					t.Errorf("busy repeat %d came %v after the busy answer, want the delay of 50ms", i-1, gap)
				}
			}
		},
	}, {
		name:  "inter-request delay",
		tx:    Tx{Timeout: timeout, Gap: 60 * time.Millisecond},
		steps: []step{{r40, []send{{0, reg(1, 140)}}}, {r45, []send{{0, reg(1, 145)}}}},
		check: func(t *testing.T, st TxStats, arrivals, sent []time.Time) {
			if gap := arrivals[1].Sub(sent[0]); gap < 60*time.Millisecond {
				t.Errorf("request came %v after the last answer, want the gap of 60ms", gap)
			}
		},
	}, {
		// A chatty slave talks between transactions: the next request
		// waits until it is done and the line is silent again.
		name:  "stray frame between requests",
		tx:    Tx{Timeout: timeout},
		idle:  true,
		steps: []step{{r40, []send{{0, reg(1, 140)}, {20 * time.Millisecond, reg(1, 140)}}}, {r45, []send{{0, reg(1, 145)}}}},
		check: func(t *testing.T, st TxStats, arrivals, sent []time.Time) {
			if st.Garbage != 7 {
				t.Errorf("stats %+v, want the 7 stray bytes counted", st)
			}
			if gap := arrivals[1].Sub(sent[0]); gap < timeout {
				t.Errorf("request came %v after the stray frame, want more than the timeout %v", gap, timeout)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			m, pair := scriptedMaster(t, false)
			p := runPeer(t, pair, tc.steps)
			ctx := t.Context()
			first := tc.tx
			first.Retries = 0
			regs, err := m.ReadRegisters(ctx, 1, FuncReadHoldingRegisters, 40, 1, first)
			switch {
			case tc.first == nil && (err != nil || regs[0] != 140):
				t.Fatalf("read of 40: got %v, %v; want 140", regs, err)
			case tc.first != nil && !errors.Is(err, tc.first):
				t.Fatalf("read of 40: got %v, %v; want %v", regs, err, tc.first)
			}
			if tc.idle {
				waitUntil(t, 5*time.Second, "the first step sent", func() bool {
					p.mu.Lock()
					defer p.mu.Unlock()
					return len(p.sent) == 1
				})
			}
			resp, st, err := m.Do(ctx, 1, mustRead(t, FuncReadHoldingRegisters, 45, 1), tc.tx)
			if err != nil || Registers(resp)[0] != 145 {
				t.Fatalf("read of 45: got %v, %v (%+v); want 145", Registers(resp), err, st)
			}
			arrivals, sent := p.wait(t)
			if tc.check != nil {
				tc.check(t, st, arrivals, sent)
			}
		})
	}
}

func mismatchedOnce(t *testing.T, st TxStats, _, _ []time.Time) {
	t.Helper()
	if st.Mismatched != 1 || st.Attempts != 2 || st.Garbage < 7 {
		t.Errorf("stats %+v, want 1 mismatched answer (discarded, at least 7 bytes) of 2 attempts", st)
	}
}

// TestMasterLateAnswerStats: the late answer is counted as late, its bytes
// as garbage, and the error tells the installer what to change.
func TestMasterLateAnswerStats(t *testing.T) {
	m, pair := scriptedMaster(t, false)
	r40 := adu(1, PDU{3, []byte{0, 40, 0, 1}})
	p := runPeer(t, pair, []step{{r40, []send{{150 * time.Millisecond, reg(1, 140)}}}})
	_, st, err := m.Do(t.Context(), 1, mustRead(t, FuncReadHoldingRegisters, 40, 1), Tx{Timeout: 100 * time.Millisecond})
	p.wait(t)
	if !errors.Is(err, ErrLate) || !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "raise timeout") {
		t.Errorf("got %v, want ErrLate naming the fix", err)
	}
	if st.Late != 1 || st.Timeouts != 0 || st.Garbage != 7 {
		t.Errorf("stats %+v, want 1 late, 7 bytes discarded", st)
	}
}

// TestMasterBusyExhausted: past busy_retry, the exception is the answer.
func TestMasterBusyExhausted(t *testing.T) {
	m, pair := scriptedMaster(t, false)
	w := adu(1, WriteSingleRegister(3, 9))
	busy := adu(1, PDU{0x86, []byte{6}})
	p := runPeer(t, pair, []step{{w, []send{{0, busy}}}, {w, []send{{0, busy}}}})
	_, st, err := m.Do(t.Context(), 1, WriteSingleRegister(3, 9), Tx{Timeout: 100 * time.Millisecond, Retries: 3, BusyRetries: 1})
	p.wait(t)
	var ex *ExceptionError
	if !errors.As(err, &ex) || ex.Code != ExSlaveDeviceBusy {
		t.Fatalf("got %v, want SLAVE DEVICE BUSY", err)
	}
	if st.Attempts != 2 || len(st.Exceptions) != 2 {
		t.Errorf("stats %+v, want 2 attempts, 2 exceptions (busy retries are not retries)", st)
	}
}

// TestMasterEchoScripted: on an echoing line the echo must come back as
// sent; an altered one (a collision) voids the answer. Without echo set,
// the error says to set it.
func TestMasterEchoScripted(t *testing.T) {
	const timeout = 100 * time.Millisecond
	r45 := adu(1, PDU{3, []byte{0, 45, 0, 1}})
	altered := slices.Clone(r45)
	altered[3] ^= 0x01
	t.Run("echo", func(t *testing.T) {
		m, pair := scriptedMaster(t, true)
		p := runPeer(t, pair, []step{
			{r45, []send{{0, r45}, {time.Millisecond, reg(1, 145)}}},
			{r45, []send{{0, altered}, {time.Millisecond, reg(1, 145)}}},
			{r45, []send{{0, r45}, {time.Millisecond, reg(1, 145)}}},
		})
		tx := Tx{Timeout: timeout, Retries: 1}
		for i := range 2 {
			resp, st, err := m.Do(t.Context(), 1, mustRead(t, FuncReadHoldingRegisters, 45, 1), tx)
			if err != nil || Registers(resp)[0] != 145 {
				t.Fatalf("read %d: got %v, %v", i, resp, err)
			}
			if i == 1 && st.Mismatched != 1 {
				t.Errorf("altered echo: stats %+v, want 1 mismatched", st)
			}
		}
		p.wait(t)
	})
	t.Run("echo not set", func(t *testing.T) {
		m, pair := scriptedMaster(t, false)
		p := runPeer(t, pair, []step{{r45, []send{{0, r45}, {time.Millisecond, reg(1, 145)}}}})
		_, err := m.ReadRegisters(t.Context(), 1, FuncReadHoldingRegisters, 45, 1, Tx{Timeout: timeout})
		p.wait(t)
		if !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), "set echo: true") {
			t.Errorf("got %v, want a mismatch that says to set echo", err)
		}
	})
}

// TestMasterCancelMidDrain: a cancelled wait leaves the line to be waited
// out by the next transaction, which still gets its own answer.
func TestMasterCancelMidDrain(t *testing.T) {
	m, pair := scriptedMaster(t, false)
	r40 := adu(1, PDU{3, []byte{0, 40, 0, 1}})
	r45 := adu(1, PDU{3, []byte{0, 45, 0, 1}})
	p := runPeer(t, pair, []step{{r40, nil}, {r45, []send{{0, reg(1, 145)}}}})
	tx := Tx{Timeout: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, _, err := m.Do(ctx, 1, mustRead(t, FuncReadHoldingRegisters, 40, 1), tx)
		done <- err
	}()
	// Let the request out, then cancel while the master waits.
	waitUntil(t, 5*time.Second, "the request on the line", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.arrivals) == 1
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	regs, err := m.ReadRegisters(t.Context(), 1, FuncReadHoldingRegisters, 45, 1, tx)
	if err != nil || regs[0] != 145 {
		t.Fatalf("after a cancel: got %v, %v", regs, err)
	}
	p.wait(t)
}
