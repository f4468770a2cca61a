package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// sink is where a response body goes: net/http's ResponseWriter (through
// *httpClient), or the native front's client buffer as it is (rawSink) or
// chunked (chunkSink). The copy functions are generic over it so that no sink is
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
			if err := readTrailers(br, s); err != nil {
				return abortRead(err)
			}
			return nil
		}
		if f := copyBody(s, br, size); f != nil {
			return f
		}
		if err := readChunkEnd(br); err != nil {
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
	writeInt(s.bw, int64(len(p)), 16)
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

// writeInt writes n in base to bw, formatted in bw's own buffer: a local
// array would escape through bufio's Write and cost an allocation.
func writeInt(bw *bufio.Writer, n int64, base int) {
	bw.Write(strconv.AppendInt(bw.AvailableBuffer(), n, base))
}
