package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/edgegw/edgegw/drivers/modbus/modbusbench"
	"github.com/edgegw/edgegw/internal/cli"
)

func init() {
	var (
		c      modbusbench.Config
		asJSON bool
	)
	app.Register(&cli.Command{
		Name:  "modbus",
		Short: "one Modbus poll cycle (8 slaves x 4 registers at 9600 baud) vs the line's own time",
		Usage: `Measures one poll cycle of the Modbus RTU master over a pty pair, against an
in-process slave, and compares it with the time the same frames and the
required 3.5-character silences take on a real line at that baud rate.

Two modes run: "instant" (the pty moves bytes at once, so the time measured
is the master's own waiting), and "paced" (the slave takes as long as a real
line would, so the time measured is line time plus what the master adds).
The target is a ratio measured/theoretical of at most 1.1.

Example:
  edgebench modbus --json
  edgebench modbus --slaves 8 --registers 4 --baud 9600 --cycles 50

Needs pseudo-terminals (Linux, macOS). Exit code 1 when a mode misses the target.`,
		Flags: func(fs *flag.FlagSet) {
			fs.IntVar(&c.Slaves, "slaves", 8, "slaves on the bus")
			fs.IntVar(&c.Registers, "registers", 4, "holding registers read from each slave")
			fs.IntVar(&c.Baud, "baud", 9600, "baud rate the port is set to (8E1, 11 bits a character)")
			fs.IntVar(&c.Cycles, "cycles", 20, "poll cycles measured")
			fs.BoolVar(&asJSON, "json", false, "print one JSON object per mode")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			failed := false
			for _, paced := range []bool{false, true} {
				c.Paced = paced
				r, err := modbusbench.Run(ctx, c)
				if err != nil {
					return err
				}
				failed = failed || !r.Pass
				if asJSON {
					b, _ := json.Marshal(r)
					fmt.Fprintln(env.Stdout, string(b))
					continue
				}
				fmt.Fprintf(env.Stdout, "modbus %s: median %.2f ms (mean %.2f, max %.2f) over %d cycles; theoretical %.2f ms; ratio %.3f (target <= %.1f)\n  %s\n",
					r.Mode, r.MedianMs, r.MeanMs, r.MaxMs, r.Cycles, r.TheoreticalMs, r.Ratio, r.Target, r.Arithmetic)
			}
			if failed {
				return &cli.ExitError{Code: 1, Err: fmt.Errorf("a mode missed the target ratio")}
			}
			return nil
		},
	})
}
