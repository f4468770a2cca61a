package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// The chunked transfer coding (RFC 9112 §7.1), read the same way from
// clients and from the app.

// errMalformed marks a message whose framing is broken: a request with one
// is answered 400.
var errMalformed = errors.New("malformed")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w %s", errMalformed, fmt.Sprintf(format, args...))
}

// readChunkSize reads a chunk-size line: "1a2b[;ext[=value]]...\r\n".
// The line must end in CRLF with no other CR in it, and extensions must be
// tokens or quoted strings: anything else could be read differently by the
// next parser.
func readChunkSize(br *bufio.Reader) (int64, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return 0, malformed("chunk size line: too long")
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return 0, malformed("chunk size line %q: not ended by CRLF", line)
	}
	line = line[:len(line)-2]
	digits := 0
	var n int64
	for ; digits < len(line); digits++ {
		d := hexDigit(line[digits])
		if d < 0 {
			break
		}
		if digits == 15 {
			return 0, malformed("chunk size %q: too large", line)
		}
		n = n<<4 | int64(d)
	}
	if digits == 0 || !validChunkExt(line[digits:]) {
		return 0, malformed("chunk size line %q", line)
	}
	return n, nil
}

func hexDigit(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// validChunkExt checks what follows a chunk size: white space to the end,
// or *( ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] BWS ).
// Unlike RFC 9112, and like Go, no white space may come before the first
// ";": parsers differ on it.
func validChunkExt(s []byte) bool {
	if i := skipWS(s, 0); i == len(s) || i > 0 {
		return i == len(s)
	}
	for i := 0; i < len(s); {
		if s[i] != ';' {
			return false
		}
		i = skipWS(s, i+1)
		if i = skipToken(s, i); i < 0 {
			return false
		}
		i = skipWS(s, i)
		if i < len(s) && s[i] == '=' {
			i = skipWS(s, i+1)
			if i < len(s) && s[i] == '"' {
				i = skipQuoted(s, i)
			} else {
				i = skipToken(s, i)
			}
			if i < 0 {
				return false
			}
			i = skipWS(s, i)
		}
	}
	return true
}

func skipWS(s []byte, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// skipToken returns the index after a token at s[i:], or -1 if none is
// there.
func skipToken(s []byte, i int) int {
	j := i
	for j < len(s) && tokenChar[s[j]] {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// skipQuoted returns the index after the quoted-string at s[i:] (which
// begins with '"'), or -1 if it is malformed: qdtext is HTAB, SP and
// visible bytes (obs-text included) but '"' and '\'; a quoted-pair escapes
// one of those.
func skipQuoted(s []byte, i int) int {
	for i++; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			return i + 1
		case c == '\\':
			i++
			if i == len(s) || !quotable(s[i]) {
				return -1
			}
		case !quotable(c):
			return -1
		}
	}
	return -1
}

func quotable(c byte) bool { return c == '\t' || c >= ' ' && c != 0x7f }

// readChunkEnd reads the CRLF after a chunk's data.
func readChunkEnd(br *bufio.Reader) error {
	b, err := br.Peek(2)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if b[0] != '\r' || b[1] != '\n' {
		return malformed("chunk data not ended by CRLF")
	}
	br.Discard(2)
	return nil
}

// maxTrailer bounds a trailer section, as Go's server does (4 KiB).
const maxTrailer = 4 << 10

// trailerSink receives the trailer fields that may pass on.
type trailerSink interface {
	Trailer(name, value []byte)
}

// readTrailers reads the trailer section after the last chunk and hands
// each field that may pass on (trailerPasses) to s. The section is bounded
// and read by the same rules as a head.
func readTrailers[S trailerSink](br *bufio.Reader, s S) error {
	if b, err := br.Peek(2); err == nil && b[0] == '\r' && b[1] == '\n' {
		br.Discard(2) // no trailers: the usual case
		return nil
	}
	var sec []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			if err == bufio.ErrBufferFull {
				err = malformed("trailer section: too large")
			}
			return err
		}
		if len(sec)+len(line) > maxTrailer {
			return malformed("trailer section: larger than %d bytes", maxTrailer)
		}
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return malformed("trailer line %q: not ended by CRLF", line) // as Go
		}
		sec = append(sec, line...)
		if len(line) == 2 {
			break
		}
	}
	var fa [16]field
	fields, err := scanFields(sec, 0, fa[:0])
	if err != nil {
		return malformed("trailer: %v", err)
	}
	for _, f := range fields {
		if name := f.name(sec); trailerPasses(name) {
			s.Trailer(name, f.value(sec))
		}
	}
	return nil
}

// trailerPasses reports whether a trailer field may be passed on. Framing,
// routing, authentication and the other fields RFC 9110 §6.5.1 keeps out
// of trailers are dropped, as are hop-by-hop fields and the ones this hop
// sets.
func trailerPasses(name []byte) bool {
	if hopName(name) {
		return false
	}
	var low [32]byte // longer than any name in notInTrailers
	if len(name) > len(low) {
		return true
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	return !notInTrailers[string(low[:len(name)])]
}

var notInTrailers = map[string]bool{
	"content-length": true, "content-type": true, "content-encoding": true, "content-range": true,
	"trailer": true, "host": true, "authorization": true, "www-authenticate": true, "cookie": true,
	"set-cookie": true, "cache-control": true, "expect": true, "max-forwards": true, "pragma": true,
	"range": true, "if-match": true, "if-none-match": true, "if-modified-since": true,
	"if-unmodified-since": true, "if-range": true, "age": true, "expires": true, "date": true,
	"location": true, "retry-after": true, "vary": true, "warning": true, "x-forwarded-for": true,
	"x-forwarded-host": true, "x-forwarded-proto": true, "forwarded": true,
	"access-control-allow-origin": true,
}
