package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/edgegw/edgegw/drivers/modbus"
	"github.com/edgegw/edgegw/internal/cli"
)

func init() {
	var (
		line             modbus.Line
		slave, retries   int
		read, typ, order string
		timeout          time.Duration
	)
	app.Register(&cli.Command{
		Name:  "probe modbus",
		Short: "read registers or coils of one Modbus RTU slave once and print them decoded",
		Usage: `Reads one block of a Modbus RTU slave once over a serial port (an RS-485
adapter) and prints the values decoded, with the raw registers beside them.
Use it while wiring a site: it tells whether the slave answers at this
address, baud rate and parity, and which type and word order give sensible
values before you write them into the config.

--read is table:address:count. table is holding, input, coil or discrete;
address is the 0-based protocol address (a datasheet's register 40001 is
holding:0, 30001 is input:0, 10001 is discrete:0); count is how many
registers (or bits) to read, 1 when left out. 32-bit types take two
registers each, so count must be even for them.

A port is opened by one program at a time: on a port the running gateway
holds, probe refuses at once, names the process that holds it and exits 69;
stop the service to probe that bus (outputs can be tested through the
running gateway: edgegw output test, or the status page's Test button).

Examples:
  edgegw probe modbus --port /dev/ttyUSB0 --slave 1 --read holding:0:4
  edgegw probe modbus --port /dev/ttyUSB0 --baud 19200 --parity none --slave 3 --read input:0:2 --type float32 --word-order little
  edgegw probe modbus --port COM3 --slave 12 --read discrete:0:8

Exit status: 0 when the slave answered, 1 when it did not or answered with
an exception (named, such as ILLEGAL DATA ADDRESS), 64 for a usage error,
69 when another program holds the port.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&line.Port, "port", "", "serial `device`: /dev/ttyUSB0, COM3 (see edgegw ports)")
			fs.IntVar(&line.Baud, "baud", 9600, "baud rate")
			fs.StringVar(&line.Parity, "parity", "even", "parity: none, even or odd (many devices use none)")
			fs.IntVar(&line.DataBits, "data-bits", 8, "data bits: 7 or 8")
			fs.IntVar(&line.StopBits, "stop-bits", 1, "stop bits: 1 or 2")
			fs.BoolVar(&line.Echo, "echo", false, "the RS-485 adapter hears its own requests (the driver's echo option)")
			fs.IntVar(&slave, "slave", 1, "slave address 1..247")
			fs.StringVar(&read, "read", "holding:0:1", "what to read: table:address:count")
			fs.StringVar(&typ, "type", "", "value type: uint16, int16, int32, uint32, float32 (default uint16; bits for coil/discrete)")
			fs.StringVar(&order, "word-order", "big", "word order of 32-bit types: big (high word first) or little")
			fs.DurationVar(&timeout, "timeout", modbus.DefaultTimeout, "how long the slave may take to answer (its turnaround)")
			fs.IntVar(&retries, "retries", 1, "times to repeat a request that got no, a damaged or a mismatched answer")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if line.Port == "" || len(args) > 0 {
				return fmt.Errorf("%w: --port is required and no positional arguments are taken", cli.ErrUsage)
			}
			table, addr, count, err := modbus.ParseReadSpec(read)
			if err != nil {
				return fmt.Errorf("%w: %v", cli.ErrUsage, err)
			}
			req := modbus.ProbeRequest{Line: line, Slave: slave, Table: table, Address: addr, Count: count,
				Timeout: timeout, Retries: retries}
			if typ != "" {
				if req.Type, err = modbus.ParseDataType(typ); err != nil {
					return fmt.Errorf("%w: --type: %v", cli.ErrUsage, err)
				}
			}
			if req.WordOrder, err = modbus.ParseWordOrder(order); err != nil {
				return fmt.Errorf("%w: --word-order: %v", cli.ErrUsage, err)
			}
			if err := req.Validate(); err != nil {
				return fmt.Errorf("%w: %v", cli.ErrUsage, err)
			}
			return modbus.Probe(ctx, req, env.Stdout)
		},
	})
}
