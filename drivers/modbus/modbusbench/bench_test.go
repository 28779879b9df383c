package modbusbench

import (
	"testing"
)

// TestRunSmall runs the benchmark machinery once, small, so that it keeps
// working; the figures are not checked here (speed is not a test).
func TestRunSmall(t *testing.T) {
	r, err := Run(t.Context(), Config{Slaves: 2, Registers: 2, Baud: 115200, Cycles: 2})
	if err != nil {
		if err.Error() == "modbustest: pseudo-terminals are not available on this OS" {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	if r.RequestBytes != 8 || r.ResponseBytes != 9 || r.MedianMs <= 0 || r.TheoreticalMs <= 0 {
		t.Errorf("result %+v", r)
	}
}
