package modbus

import (
	"net"
	"strconv"

	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/edge"
)

// LineOptions are a port's or connection's settings, shared by the input
// and output drivers. Every input and output on one port (or address) must
// agree on them. Exactly one of port, the usb_ fields, tcp and
// rtu_over_tcp is set.
type LineOptions struct {
	// Port is the serial device: /dev/serial/by-id/..., /dev/ttyUSB0,
	// COM3, or usb:VID:PID[:SERIAL] (a USB adapter by its ids, looked up
	// at every (re)connect, so a replugged adapter is found on its new
	// ttyUSBn).
	Port string `yaml:"port"`
	// USBVID, USBPID and USBSerial name the port by its USB adapter, like
	// port: usb:VID:PID:SERIAL (edgegw ports prints them). USBSerial is
	// optional when one adapter of that VID:PID is plugged in.
	USBVID    string `yaml:"usb_vid"`
	USBPID    string `yaml:"usb_pid"`
	USBSerial string `yaml:"usb_serial"`
	// TCP is a Modbus TCP server (a meter or PLC with Ethernet, a Modbus
	// TCP gateway), host:port; the usual port is 502. Slaves' slave: is
	// the unit id.
	TCP string `yaml:"tcp"`
	// RTUOverTCP is a serial device server in transparent mode, host:port
	// (often 4001 or 8899): RTU frames over its socket. Baud and parity
	// are then the device server's serial side, which times the frames.
	RTUOverTCP string `yaml:"rtu_over_tcp"`
	// ConnectTimeout bounds a TCP connect. Default: 5s.
	ConnectTimeout edge.Duration `yaml:"connect_timeout"`
	// Baud is the line speed. Default: 9600.
	Baud int `yaml:"baud"`
	// DataBits is 7 or 8. Default: 8.
	DataBits int `yaml:"data_bits"`
	// Parity is none, even or odd. Default: even (the Modbus default; many
	// devices ship with none instead, check the label).
	Parity string `yaml:"parity"`
	// StopBits is 1 or 2. Default: 1.
	StopBits int `yaml:"stop_bits"`
	// Echo: the RS-485 adapter hears its own requests (receiver always
	// enabled); each must come back unaltered and is skipped before the
	// answer. Default: false.
	Echo bool `yaml:"echo"`
}

func (o *LineOptions) line() Line {
	l := Line{Port: o.Port, Baud: o.Baud, DataBits: o.DataBits, Parity: o.Parity, StopBits: o.StopBits, Echo: o.Echo,
		ConnectTimeout: o.ConnectTimeout.D()}
	switch {
	case o.TCP != "":
		l.Transport, l.Address = TransportTCP, o.TCP
	case o.RTUOverTCP != "":
		l.Transport, l.Address = TransportRTUOverTCP, o.RTUOverTCP
	case o.USBVID != "" || o.USBPID != "":
		l.Port = serialport.USBSelector{VID: o.USBVID, PID: o.USBPID, Serial: o.USBSerial}.String()
	}
	l.setDefaults()
	return l
}

func (o *LineOptions) validate(opts edge.Options) error {
	n := 0
	for _, set := range []bool{o.Port != "", o.USBVID != "" || o.USBPID != "" || o.USBSerial != "", o.TCP != "", o.RTUOverTCP != ""} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return opts.Errorf("port", "port is required (a serial device such as /dev/ttyUSB0 or COM3), or tcp: host:502, or rtu_over_tcp: host:4001")
	case n > 1:
		return opts.Errorf("port", "set one of port, usb_vid/usb_pid/usb_serial, tcp and rtu_over_tcp")
	}
	if o.USBVID != "" || o.USBPID != "" || o.USBSerial != "" {
		if _, _, err := serialport.ParseUSB(o.line().Port); err != nil || o.USBVID == "" || o.USBPID == "" {
			return opts.Errorf("usb_vid", "usb_vid and usb_pid are 4-digit hex ids, such as usb_vid: \"1a86\" and usb_pid: \"7523\" (see edgegw ports)")
		}
	}
	if _, _, err := serialport.ParseUSB(o.Port); err != nil {
		return opts.Errorf("port", "%v", err)
	}
	for _, a := range []struct{ field, addr string }{{"tcp", o.TCP}, {"rtu_over_tcp", o.RTUOverTCP}} {
		if a.addr == "" {
			continue
		}
		if err := checkAddress(a.addr); err != nil {
			return opts.Errorf(a.field, "%s %q: %v", a.field, a.addr, err)
		}
	}
	if d := o.ConnectTimeout.D(); d < 0 || d > maxTimeout {
		return opts.Errorf("connect_timeout", "connect_timeout %v out of range 0s..%v", d, maxTimeout)
	}
	if o.TCP != "" && (o.Baud != 0 || o.DataBits != 0 || o.Parity != "" || o.StopBits != 0 || o.Echo) {
		return opts.Errorf("tcp", "baud, data_bits, parity, stop_bits and echo are a serial line's; Modbus TCP has none")
	}
	if o.TCP == "" && o.RTUOverTCP == "" && o.ConnectTimeout != 0 {
		return opts.Errorf("connect_timeout", "connect_timeout applies to tcp and rtu_over_tcp")
	}
	l := o.line()
	if _, err := l.mode(); err != nil {
		field := "baud"
		switch {
		case l.Parity != "none" && l.Parity != "even" && l.Parity != "odd":
			field = "parity"
		case l.StopBits != 1 && l.StopBits != 2:
			field = "stop_bits"
		case l.DataBits != 7 && l.DataBits != 8:
			field = "data_bits"
		}
		return opts.Errorf(field, "%v", err)
	}
	return nil
}

// checkAddress checks host:port.
func checkAddress(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return edge.Msgf("want host:port, such as 192.168.1.20:502")
	}
	if host == "" {
		return edge.Msgf("no host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return edge.Msgf("port %q is not a number 1..65535", port)
	}
	return nil
}
