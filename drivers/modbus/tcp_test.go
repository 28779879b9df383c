package modbus

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"
)

// tcpPeer is a scripted Modbus TCP server: for each request it sends what
// answer returns (any bytes), given the request's transaction id, unit and
// PDU.
func tcpPeer(t *testing.T, answer func(n int, tid uint16, unit byte, req PDU) []byte) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		n := 0
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var buf []byte
				rb := make([]byte, 512)
				for {
					k, err := c.Read(rb)
					if err != nil {
						return
					}
					buf = append(buf, rb[:k]...)
					for {
						h, req, m, err := SplitTCPFrame(buf)
						if err != nil || m == 0 {
							break
						}
						buf = buf[m:]
						n++
						if out := answer(n, h.Transaction, h.Unit, req); out != nil {
							c.Write(out)
						}
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

func tcpMaster(t *testing.T, addr string) *TCPMaster {
	t.Helper()
	m, err := NewTCPMaster(Line{Transport: TransportTCP, Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func regsPDU(v ...uint16) PDU {
	d := []byte{byte(2 * len(v))}
	for _, x := range v {
		d = binary.BigEndian.AppendUint16(d, x)
	}
	return PDU{3, d}
}

// TestTCPMasterScripted: every answer is checked against its request's
// transaction id, unit id and function before it is decoded.
func TestTCPMasterScripted(t *testing.T) {
	good := func(tid uint16, unit byte) []byte { return AppendTCPFrame(nil, tid, unit, regsPDU(145)) }
	for _, tc := range []struct {
		name   string
		answer func(n int, tid uint16, unit byte, req PDU) []byte
		check  func(t *testing.T, st TxStats)
	}{{
		name: "a stray transaction id before ours",
		answer: func(n int, tid uint16, unit byte, req PDU) []byte {
			return append(AppendTCPFrame(nil, tid+100, unit, regsPDU(999)), good(tid, unit)...)
		},
		check: func(t *testing.T, st TxStats) {
			if st.Mismatched != 1 || st.Attempts != 1 || st.Garbage != 11 {
				t.Errorf("stats %+v, want 1 mismatched frame of 11 bytes in 1 attempt", st)
			}
		},
	}, {
		name: "wrong unit, then right on the retry",
		answer: func(n int, tid uint16, unit byte, req PDU) []byte {
			if n == 1 {
				return AppendTCPFrame(nil, tid, unit+1, regsPDU(999))
			}
			return good(tid, unit)
		},
		check: func(t *testing.T, st TxStats) {
			if st.Mismatched != 1 || st.Attempts != 2 || !errors.Is(st.LastErr, ErrBadResponse) {
				t.Errorf("stats %+v, want 1 mismatched, 2 attempts", st)
			}
		},
	}, {
		name: "wrong function, then right",
		answer: func(n int, tid uint16, unit byte, req PDU) []byte {
			if n == 1 {
				return AppendTCPFrame(nil, tid, unit, PDU{4, []byte{2, 3, 231}})
			}
			return good(tid, unit)
		},
		check: func(t *testing.T, st TxStats) {
			if st.Mismatched != 1 || st.Attempts != 2 {
				t.Errorf("stats %+v", st)
			}
		},
	}, {
		name: "wrong byte count, then right",
		answer: func(n int, tid uint16, unit byte, req PDU) []byte {
			if n == 1 {
				return AppendTCPFrame(nil, tid, unit, regsPDU(145, 1))
			}
			return good(tid, unit)
		},
		check: func(t *testing.T, st TxStats) {
			if st.Mismatched != 1 || st.Attempts != 2 {
				t.Errorf("stats %+v", st)
			}
		},
	}, {
		name: "answer in pieces",
		answer: func(n int, tid uint16, unit byte, req PDU) []byte {
			return good(tid, unit) // the peer writes once; TCP may split it anyway
		},
	}, {
		name: "late answer to a timed-out request",
		answer: func(n int, tid uint16, unit byte, req PDU) []byte {
			switch n {
			case 1:
				return nil // times out
			case 2: // the first request's answer comes now, then the retry's
				return append(AppendTCPFrame(nil, tid-1, unit, regsPDU(999)), good(tid, unit)...)
			}
			return good(tid, unit)
		},
		check: func(t *testing.T, st TxStats) {
			if st.Timeouts != 1 || st.Late != 1 || st.Attempts != 2 || !errors.Is(st.LastErr, ErrLate) {
				t.Errorf("stats %+v, want a timeout, then its answer counted late", st)
			}
		},
	}, {
		name: "protocol id not 0: the connection is dropped and made again",
		answer: func(n int, tid uint16, unit byte, req PDU) []byte {
			if n == 1 {
				b := good(tid, unit)
				b[3] = 1
				return b
			}
			return good(tid, unit)
		},
		check: func(t *testing.T, st TxStats) {
			if st.Mismatched != 1 || st.Attempts != 2 {
				t.Errorf("stats %+v", st)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			m := tcpMaster(t, tcpPeer(t, tc.answer))
			resp, st, err := m.Do(t.Context(), 7, mustRead(t, FuncReadHoldingRegisters, 45, 1), Tx{Timeout: 300 * time.Millisecond, Retries: 1})
			if err != nil || Registers(resp)[0] != 145 {
				t.Fatalf("got %v, %v (%+v); want 145", Registers(resp), err, st)
			}
			if tc.check != nil {
				tc.check(t, st)
			}
		})
	}
}

func TestTCPMasterMismatchExhausted(t *testing.T) {
	m := tcpMaster(t, tcpPeer(t, func(n int, tid uint16, unit byte, req PDU) []byte {
		return AppendTCPFrame(nil, tid, unit+1, regsPDU(999))
	}))
	_, st, err := m.Do(t.Context(), 7, mustRead(t, FuncReadHoldingRegisters, 45, 1), Tx{Timeout: 300 * time.Millisecond, Retries: 2})
	if !errors.Is(err, ErrBadResponse) || st.Mismatched != 3 {
		t.Fatalf("got %v, %+v; want ErrBadResponse after 3 mismatched answers", err, st)
	}
}

func TestSplitTCPFrame(t *testing.T) {
	f := AppendTCPFrame(nil, 0x1234, 9, regsPDU(1, 2))
	for i := range len(f) {
		if _, _, n, err := SplitTCPFrame(f[:i]); n != 0 || err != nil {
			t.Fatalf("%d bytes: n %d, err %v; want more needed", i, n, err)
		}
	}
	h, p, n, err := SplitTCPFrame(append(f, 0xAA))
	if err != nil || n != len(f) || h.Transaction != 0x1234 || h.Unit != 9 || p.Function != 3 || len(p.Data) != 5 {
		t.Fatalf("got %+v %+v %d %v", h, p, n, err)
	}
	for _, bad := range [][]byte{
		{0, 1, 0, 1, 0, 6, 1, 3}, // protocol 1
		{0, 1, 0, 0, 0, 1, 1},    // length 1
		{0, 1, 0, 0, 1, 0, 1},    // length 256
	} {
		if _, _, _, err := SplitTCPFrame(bad); !errors.Is(err, ErrBadResponse) {
			t.Errorf("% x: got %v, want ErrBadResponse", bad, err)
		}
	}
}
