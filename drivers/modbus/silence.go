package modbus

import (
	"context"
	"fmt"
	"runtime"
	"time"
)

// Waiting out the line: the silences of the transaction discipline (see
// Master), measured on the master's clock while the port is read, so that
// whatever arrives meanwhile is seen and discarded rather than left for the
// next answer.

// pollTimeout is the shortest read timeout: 0 polls the port without
// waiting (a select with a zero timeout); Windows counts read timeouts in
// whole milliseconds, and 0 there would spin.
var pollTimeout = func() time.Duration {
	if runtime.GOOS == "windows" {
		return time.Millisecond
	}
	return 0
}()

// noiseLimit bounds a wait for a silence of q: a line that does not fall
// silent for q in this long is not going to.
func noiseLimit(q time.Duration) time.Duration { return 4*q + time.Second }

// settle makes the line ready for a request: if it may carry bytes that
// are not the answer to come, it waits for the silence that ends them
// (reading and discarding) and flushes the input buffer; then it keeps the
// gap since the last frame, listening: a byte heard then is not ours either.
func (m *Master) settle(ctx context.Context, p Port, tx Tx, gap time.Duration, st *TxStats) error {
	for range 3 {
		if m.dirty {
			q := m.quiet
			if q == 0 {
				q = tx.quiet(m.line)
			}
			n, err := m.quiesce(ctx, p, m.now(), q, noiseLimit(q))
			st.Garbage += n
			if err != nil {
				return err
			}
			if err := p.ResetInputBuffer(); err != nil {
				return m.portFailed(err)
			}
			m.dirty, m.quiet = false, 0
		}
		n, err := m.readSome(ctx, p, m.last.Add(gap))
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		st.Garbage += n
		m.dirty = true
	}
	return fmt.Errorf("%w: %s: bytes keep arriving between requests", ErrNoise, m.line.Name())
}

// quiesce reads and discards until the line has been silent for quiet,
// counted from since or from the last byte it heard, whichever is later,
// and returns how many bytes it read. It fails with ErrNoise when the line
// has not fallen silent within limit.
func (m *Master) quiesce(ctx context.Context, p Port, since time.Time, quiet, limit time.Duration) (int, error) {
	start := m.now()
	total := 0
	for {
		from := since
		if total > 0 {
			from = m.last
		}
		end := from.Add(quiet)
		if m.now().Sub(start) > limit {
			return total, fmt.Errorf("%w: %s: not silent for %v within %v", ErrNoise, m.line.Name(), quiet, limit)
		}
		if !m.now().Before(end) {
			return total, nil
		}
		n, err := m.readSome(ctx, p, end)
		if err != nil {
			return total, err
		}
		total += n
	}
}

// readSome reads what arrives before until into m.rbuf, and returns as soon
// as anything came (0 at until). It polls the port at least once.
func (m *Master) readSome(ctx context.Context, p Port, until time.Time) (int, error) {
	for {
		// Short reads keep a cancelled ctx from waiting out a long timeout.
		d := min(max(until.Sub(m.now()), pollTimeout), 100*time.Millisecond)
		if err := p.SetReadTimeout(d); err != nil {
			return 0, m.portFailed(err)
		}
		n, err := p.Read(m.rbuf[:])
		if err != nil {
			return 0, m.portFailed(err)
		}
		if n > 0 {
			m.last = m.now()
			return n, nil
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if !m.now().Before(until) {
			return 0, nil
		}
	}
}
