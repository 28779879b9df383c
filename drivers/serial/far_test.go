package serial

import bugserial "go.bug.st/serial"

func openFar(path string) (bugserial.Port, error) {
	return bugserial.Open(path, &bugserial.Mode{BaudRate: 9600})
}
