package main

import (
	"context"
	"flag"
	"time"

	"github.com/edgegw/edgegw/drivers/modbus"
	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/internal/cli"
)

func init() {
	var (
		line                    modbus.Line
		tcp, rtuOverTCP         string
		slave, retries          int
		read, typ, order, worda string
		scale, offset           float64
		decimals                int
		timeout                 time.Duration
	)
	app.Register(&cli.Command{
		Name:  "probe modbus",
		Short: "read registers or coils of one Modbus slave (RTU, TCP, RTU over TCP) once and print them decoded",
		Usage: `Reads one block of a Modbus slave once and prints the values decoded, with
the raw registers beside them: over a serial port (an RS-485 adapter,
--port), a Modbus TCP connection (--tcp host:502) or a serial device
server in transparent mode (--rtu-over-tcp host:4001: RTU frames over its
socket; --baud and --parity are then its serial side's). Use it while
wiring a site: it tells whether the slave answers at this address, baud
rate and parity, and which type, order and scale give sensible values
before you write them into the config.

--read is table:address:count. table is holding, input, coil or discrete;
address is the 0-based protocol address (a datasheet's register 40001 is
holding:0, 30001 is input:0, 10001 is discrete:0); count is how many
registers (or bits) to read, 1 when left out. 32-bit types take two
registers each and 64-bit types four, so count must be a multiple; for
--type string, count is the string's length in registers.

--order is how a value's bytes lie in its registers: ABCD (high word
first, the Modbus default), CDAB (word swap, common on meters), BADC (byte
swap) or DCBA. Integers print as integers; with --scale, --offset or
--decimals each value also prints scaled as the driver would send it.

A port is opened by one program at a time: on a port the running gateway
holds, probe refuses at once, names the process that holds it and exits 69;
stop the service to probe that bus (outputs can be tested through the
running gateway: edgegw output test, or the status page's Test button).

Examples:
  edgegw probe modbus --port /dev/ttyUSB0 --slave 1 --read holding:0:4
  edgegw probe modbus --port /dev/ttyUSB0 --baud 19200 --parity none --slave 3 --read input:0:2 --type float32 --order CDAB
  edgegw probe modbus --port usb:1a86:7523 --slave 1 --read input:0 --type int16 --scale 0.1
  edgegw probe modbus --tcp 192.168.1.20:502 --slave 1 --read holding:0:4 --type uint64
  edgegw probe modbus --rtu-over-tcp 192.168.1.30:4001 --baud 9600 --parity none --slave 5 --read holding:0:2 --type int32
  edgegw probe modbus --port COM3 --slave 12 --read discrete:0:8

Exit status: 0 when the slave answered, 1 when it did not, answered with
an exception (named, such as ILLEGAL DATA ADDRESS) or could not be
connected to, 64 for a usage error, 69 when another program holds the
port.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&line.Port, "port", "", "serial `device`: /dev/ttyUSB0, /dev/serial/by-id/..., COM3, usb:VID:PID[:SERIAL] (see edgegw ports)")
			fs.StringVar(&tcp, "tcp", "", "Modbus TCP server `host:port` (usually port 502); --slave is the unit id")
			fs.StringVar(&rtuOverTCP, "rtu-over-tcp", "", "serial device server `host:port` in transparent mode: RTU over its socket")
			fs.DurationVar(&line.ConnectTimeout, "connect-timeout", modbus.DefaultConnectTimeout, "how long a TCP connect may take")
			fs.IntVar(&line.Baud, "baud", 9600, "baud rate (of the device server's serial side with --rtu-over-tcp)")
			fs.StringVar(&line.Parity, "parity", "even", "parity: none, even or odd (many devices use none)")
			fs.IntVar(&line.DataBits, "data-bits", 8, "data bits: 7 or 8")
			fs.IntVar(&line.StopBits, "stop-bits", 1, "stop bits: 1 or 2")
			fs.BoolVar(&line.Echo, "echo", false, "the RS-485 adapter hears its own requests (the driver's echo option)")
			fs.IntVar(&slave, "slave", 1, "slave address (unit id on TCP) 1..247")
			fs.StringVar(&read, "read", "holding:0:1", "what to read: table:address:count")
			fs.StringVar(&typ, "type", "", "value type: uint16, int16, int32, uint32, float32, int64, uint64, float64, string (default uint16; bits for coil/discrete)")
			fs.StringVar(&order, "order", "", "byte order of multi-register values: ABCD, CDAB, BADC or DCBA (default ABCD)")
			fs.StringVar(&worda, "word-order", "", "older name of --order: big (ABCD) or little (CDAB)")
			fs.Float64Var(&scale, "scale", 0, "print each number also multiplied by this, as the driver's scale (default: not scaled)")
			fs.Float64Var(&offset, "offset", 0, "added after --scale, as the driver's offset")
			fs.IntVar(&decimals, "decimals", -1, "round the scaled value to this many decimals (default: from --scale and --offset, as the driver does)")
			fs.DurationVar(&timeout, "timeout", modbus.DefaultTimeout, "how long the slave may take to answer (its turnaround)")
			fs.IntVar(&retries, "retries", 1, "times to repeat a request that got no, a damaged or a mismatched answer")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return i18n.Errorf(lang(), "%w: no positional arguments are taken", cli.ErrUsage)
			}
			n := 0
			for _, s := range []string{line.Port, tcp, rtuOverTCP} {
				if s != "" {
					n++
				}
			}
			if n != 1 {
				return i18n.Errorf(lang(), "%w: give one of --port, --tcp and --rtu-over-tcp", cli.ErrUsage)
			}
			switch {
			case tcp != "":
				line.Transport, line.Address = modbus.TransportTCP, tcp
			case rtuOverTCP != "":
				line.Transport, line.Address = modbus.TransportRTUOverTCP, rtuOverTCP
			}
			table, addr, count, err := modbus.ParseReadSpec(read)
			if err != nil {
				return i18n.Errorf(lang(), "%w: %v", cli.ErrUsage, err)
			}
			req := modbus.ProbeRequest{Line: line, Slave: slave, Table: table, Address: addr, Count: count,
				Timeout: timeout, Retries: retries, Scale: scale, Offset: offset, Lang: lang()}
			if decimals >= 0 {
				req.Decimals = &decimals
			}
			if typ != "" {
				if req.Type, err = modbus.ParseDataType(typ); err != nil {
					return i18n.Errorf(lang(), "%w: --type: %v", cli.ErrUsage, err)
				}
			}
			if order != "" && worda != "" {
				return i18n.Errorf(lang(), "%w: give --order or --word-order, not both", cli.ErrUsage)
			}
			if req.WordOrder, err = modbus.ParseWordOrder(order + worda); err != nil {
				return i18n.Errorf(lang(), "%w: --order: %v", cli.ErrUsage, err)
			}
			if err := req.Validate(); err != nil {
				return i18n.Errorf(lang(), "%w: %v", cli.ErrUsage, err)
			}
			return modbus.Probe(ctx, req, env.Stdout)
		},
	})
}
