package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// sink is where a response body goes: net/http's ResponseWriter (rwSink),
// or the native front's client buffer as it is (rawSink) or chunked
// (chunkSink). The copy functions are generic over it so that no sink is
// boxed in an interface per request.
type sink interface {
	Write(p []byte) (int, error)
	Flush() error
	// Trailer passes on one trailer field of a chunked body.
	Trailer(name, value []byte)
}

// copyBody relays n bytes (n < 0: until the app closes) from the app's br
// to s. It writes straight out of br's buffer, and flushes s whenever the
// next read would wait for the app: streamed responses (Server-Sent Events)
// reach the client as they come, and one that arrived whole goes out in one
// write.
func copyBody[S sink](s S, br *bufio.Reader, n int64) *fwdError {
	dirty := false
	for n != 0 {
		if br.Buffered() == 0 {
			if dirty {
				if err := s.Flush(); err != nil {
					return &fwdError{kind: failClient, err: err}
				}
				dirty = false
			}
			if _, err := br.Peek(1); err != nil {
				if n < 0 && err == io.EOF {
					return nil
				}
				return abortRead(err)
			}
		}
		k := br.Buffered()
		if n > 0 && int64(k) > n {
			k = int(n)
		}
		buf, _ := br.Peek(k)
		if _, err := s.Write(buf); err != nil {
			return &fwdError{kind: failClient, err: err}
		}
		br.Discard(k)
		if n > 0 {
			n -= int64(k)
		}
		dirty = true
	}
	return nil
}

// copyChunked relays a chunked body from the app, chunk by chunk with the
// same flushing as copyBody, and its trailer fields.
func copyChunked[S sink](s S, br *bufio.Reader) *fwdError {
	for {
		if buf, _ := br.Peek(br.Buffered()); bytes.IndexByte(buf, '\n') < 0 {
			if err := s.Flush(); err != nil {
				return &fwdError{kind: failClient, err: err}
			}
		}
		size, err := readChunkSize(br)
		if err != nil {
			return abortRead(err)
		}
		if size == 0 {
			return readTrailers(br, s)
		}
		if f := copyBody(s, br, size); f != nil {
			return f
		}
		if err := readCRLF(br); err != nil {
			return abortRead(err)
		}
	}
}

// abortRead reports a failure to read a response body that has begun.
func abortRead(err error) *fwdError {
	if errors.Is(err, errClientGone) {
		return &fwdError{kind: failClient, err: err}
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &fwdError{kind: failAbort, err: fmt.Errorf("read response body: %w", err)}
}

// readChunkSize reads "1a2b[;ext]\r\n".
func readChunkSize(br *bufio.Reader) (int64, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			err = errors.New("chunk size line too long")
		}
		return 0, err
	}
	line = bytes.TrimRight(line, "\r\n")
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t")
	if len(line) == 0 || len(line) > 15 {
		return 0, fmt.Errorf("malformed chunk size %q", line)
	}
	var n int64
	for _, c := range line {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, fmt.Errorf("malformed chunk size %q", line)
		}
		n = n<<4 | int64(c)
	}
	return n, nil
}

func readCRLF(br *bufio.Reader) error {
	b, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if len(b) > 2 || (len(b) == 2 && b[0] != '\r') {
		return errors.New("malformed chunk end")
	}
	return nil
}

// readTrailers reads the trailer section after the last chunk and hands
// each end-to-end field to s.
func readTrailers[S sink](br *bufio.Reader, s S) *fwdError {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return abortRead(err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return &fwdError{kind: failAbort, err: fmt.Errorf("malformed trailer %q", line)}
		}
		name := line[:colon]
		for _, c := range name {
			if !tokenChar[c] {
				return &fwdError{kind: failAbort, err: fmt.Errorf("malformed trailer %q", line)}
			}
		}
		if !hopName(name) && !lowerIs(name, "content-length") {
			s.Trailer(name, bytes.Trim(line[colon+1:], " \t"))
		}
	}
}

// rwSink writes to net/http's ResponseWriter.
type rwSink struct{ w http.ResponseWriter }

func (s rwSink) Write(p []byte) (int, error) { return s.w.Write(p) }
func (s rwSink) Flush() error                { return flush(s.w) }
func (s rwSink) Trailer(name, value []byte) {
	k, ok := canonicalName(string(name))
	if ok {
		s.w.Header().Add(http.TrailerPrefix+k, string(value))
	}
}

// flush pushes what w holds to the client.
func flush(w http.ResponseWriter) error {
	if f, ok := w.(interface{ FlushError() error }); ok {
		return f.FlushError() // net/http's own writer: no allocation
	}
	return http.NewResponseController(w).Flush()
}

// rawSink writes to the native front's client buffer as is: a body framed
// by Content-Length, or by closing the connection.
type rawSink struct{ bw *bufio.Writer }

func (s rawSink) Write(p []byte) (int, error) { return s.bw.Write(p) }
func (s rawSink) Flush() error                { return s.bw.Flush() }
func (s rawSink) Trailer(name, value []byte)  {} // no way to send them

// chunkSink writes to the native front's client buffer in chunked encoding.
// end writes the last chunk after any trailer fields were added.
type chunkSink struct {
	bw    *bufio.Writer
	ended *bool // the last chunk is written (trailers follow)
}

func (s chunkSink) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var num [16]byte
	s.bw.Write(strconv.AppendInt(num[:0], int64(len(p)), 16))
	s.bw.WriteString("\r\n")
	n, err := s.bw.Write(p)
	s.bw.WriteString("\r\n")
	return n, err
}

func (s chunkSink) Flush() error { return s.bw.Flush() }

func (s chunkSink) Trailer(name, value []byte) {
	if !*s.ended {
		s.bw.WriteString("0\r\n")
		*s.ended = true
	}
	s.bw.Write(name)
	s.bw.WriteString(": ")
	s.bw.Write(value)
	s.bw.WriteString("\r\n")
}

// end finishes the chunked body.
func (s chunkSink) end() {
	if !*s.ended {
		s.bw.WriteString("0\r\n")
		*s.ended = true
	}
	s.bw.WriteString("\r\n")
}
