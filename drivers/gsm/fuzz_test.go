package gsm

import (
	"context"
	"errors"
	"testing"
	"time"

	bugserial "go.bug.st/serial"
)

// scriptPort is a bugserial.Port whose reads return a fixed byte stream in
// small chunks, then fail: the modem parser is fed outside bytes.
type scriptPort struct {
	data  []byte
	chunk int
}

func (p *scriptPort) Read(b []byte) (int, error) {
	if len(p.data) == 0 {
		return 0, errors.New("end of script")
	}
	n := min(len(b), p.chunk, len(p.data))
	copy(b, p.data[:n])
	p.data = p.data[n:]
	return n, nil
}
func (p *scriptPort) Write(b []byte) (int, error)   { return len(b), nil }
func (p *scriptPort) SetMode(*bugserial.Mode) error { return nil }
func (p *scriptPort) Drain() error                  { return nil }
func (p *scriptPort) ResetInputBuffer() error       { return nil }
func (p *scriptPort) ResetOutputBuffer() error      { return nil }
func (p *scriptPort) SetDTR(bool) error             { return nil }
func (p *scriptPort) SetRTS(bool) error             { return nil }
func (p *scriptPort) GetModemStatusBits() (*bugserial.ModemStatusBits, error) {
	return &bugserial.ModemStatusBits{}, nil
}
func (p *scriptPort) SetReadTimeout(time.Duration) error { return nil }
func (p *scriptPort) Close() error                       { return nil }
func (p *scriptPort) Break(time.Duration) error          { return nil }

// FuzzModemSend feeds arbitrary modem answers to the send dialogue: it must
// end (sent or an error), never panic or hang.
func FuzzModemSend(f *testing.F) {
	f.Add([]byte("\r\nOK\r\n\r\nOK\r\n\r\n> \r\n+CMGS: 12\r\n\r\nOK\r\n"), uint8(3), true)
	f.Add([]byte("OK\r\nOK\r\n>\r\n+CMS ERROR: 330\r\n"), uint8(1), false)
	f.Add([]byte("\r\n+CME ERROR: SIM busy\r\n"), uint8(7), false)
	f.Add([]byte(">>>\r\r\n\n+CMGS:\r\nOK\r\n"), uint8(2), true)
	f.Add([]byte("\r\nRING\r\n+CMTI: \"SM\",1\r\nOK\r\nERROR\r\n"), uint8(64), false)
	f.Fuzz(func(t *testing.T, answers []byte, chunk uint8, ucs2 bool) {
		p := &scriptPort{data: answers, chunk: 1 + int(chunk)%64}
		m, err := newModem(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		text := "door open"
		if ucs2 {
			text = "门磁报警"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		mr, err := m.send(ctx, "+8613800000001", text, time.Second, time.Second)
		if err == nil && mr < 0 {
			t.Fatalf("sent with message reference %d", mr)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatal("the dialogue did not end by itself")
		}
	})
}
