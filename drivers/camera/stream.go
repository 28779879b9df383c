package camera

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strconv"
	"strings"
)

// StreamReader cuts the parts of a never-ending multipart stream: the
// ISAPI alertStream (multipart/mixed) and the Dahua attach stream
// (multipart/x-mixed-replace). Unlike mime/multipart it bounds a part's
// headers and body on its own, honours Content-Length where the camera
// sends one, and skips an oversize part instead of giving up the stream.
type StreamReader struct {
	br       *bufio.Reader
	delim    []byte // "--" + boundary
	maxPart  int
	atStart  bool // the boundary line of the next part was already read
	finished bool
}

// Part is one part of a stream.
type Part struct {
	Header textproto.MIMEHeader
	Body   []byte
}

const (
	maxHeaderLines = 32
	lineBuf        = 4096
)

// NewStreamReader reads the parts of r delimited by boundary, each at most
// maxPart bytes.
func NewStreamReader(r io.Reader, boundary string, maxPart int) *StreamReader {
	return &StreamReader{br: bufio.NewReaderSize(r, lineBuf), delim: []byte("--" + boundary), maxPart: maxPart}
}

// Next returns the next part. A part over the limit is skipped and
// reported with an error wrapping ErrTooLarge; the stream stays usable.
// io.EOF ends the stream (its closing boundary, or the connection).
func (s *StreamReader) Next() (Part, error) {
	if s.finished {
		return Part{}, io.EOF
	}
	if !s.atStart {
		if err := s.skipToBoundary(); err != nil {
			return Part{}, err
		}
	}
	s.atStart = false
	if s.finished {
		return Part{}, io.EOF
	}
	hdr, err := s.readHeader()
	if err != nil {
		return Part{}, err
	}
	if cl := hdr.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(cl), 10, 64)
		if err != nil || n < 0 {
			return Part{}, fmt.Errorf("%w: part Content-Length %q", ErrMalformed, clip(cl))
		}
		if n > int64(s.maxPart) {
			if _, err := io.CopyN(io.Discard, s.br, n); err != nil {
				return Part{}, unexpected(err)
			}
			return Part{}, fmt.Errorf("%w: part of %d bytes, limit %d", ErrTooLarge, n, s.maxPart)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(s.br, body); err != nil {
			return Part{}, unexpected(err)
		}
		return Part{Header: hdr, Body: body}, nil
	}
	// No length: the body runs to the next boundary line.
	var body []byte
	over := false
	for {
		line, err := s.readLine()
		if err != nil {
			return Part{}, unexpected(err)
		}
		if s.isBoundary(line) {
			s.atStart = true
			break
		}
		if !over && len(body)+len(line) > s.maxPart {
			over, body = true, nil
		}
		if !over {
			body = append(body, line...)
		}
	}
	if over {
		return Part{}, fmt.Errorf("%w: part over %d bytes", ErrTooLarge, s.maxPart)
	}
	// The CRLF before the boundary belongs to the boundary.
	body = bytes.TrimSuffix(body, []byte("\n"))
	body = bytes.TrimSuffix(body, []byte("\r"))
	return Part{Header: hdr, Body: body}, nil
}

// readLine returns the next line with its newline; a line longer than the
// buffer comes in pieces, which is fine for a body and never matches a
// boundary.
func (s *StreamReader) readLine() ([]byte, error) {
	line, err := s.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return line, nil
	}
	if err != nil && len(line) > 0 && errors.Is(err, io.EOF) {
		return line, nil
	}
	return line, err
}

func (s *StreamReader) isBoundary(line []byte) bool {
	t := bytes.TrimSpace(line)
	if !bytes.HasPrefix(t, s.delim) {
		return false
	}
	rest := t[len(s.delim):]
	if bytes.Equal(rest, []byte("--")) {
		s.finished = true
		return true
	}
	return len(rest) == 0
}

func (s *StreamReader) skipToBoundary() error {
	for {
		line, err := s.readLine()
		if err != nil {
			return err
		}
		if s.isBoundary(line) {
			return nil
		}
	}
}

func (s *StreamReader) readHeader() (textproto.MIMEHeader, error) {
	h := textproto.MIMEHeader{}
	for i := 0; ; i++ {
		line, err := s.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: part header line over %d bytes", ErrMalformed, lineBuf)
		}
		if err != nil {
			return nil, unexpected(err)
		}
		t := strings.TrimSpace(string(line))
		if t == "" {
			return h, nil
		}
		if i >= maxHeaderLines {
			return nil, fmt.Errorf("%w: more than %d part header lines", ErrMalformed, maxHeaderLines)
		}
		k, v, ok := strings.Cut(t, ":")
		if !ok {
			// The caller skips to the next boundary and carries on.
			return nil, fmt.Errorf("%w: part header line %q has no colon", ErrMalformed, clip(t))
		}
		h.Add(textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k)), strings.TrimSpace(v))
	}
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
