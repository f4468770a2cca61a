package proxy

import "net/textproto"

// commonHeaders interns the canonical names apps send most, so that a
// response from an app that writes them in lower case (Bun does) needs no
// allocation per name.
var commonHeaders = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept-Ranges", "Access-Control-Allow-Credentials", "Access-Control-Allow-Headers",
		"Access-Control-Allow-Methods", "Access-Control-Allow-Origin", "Access-Control-Expose-Headers",
		"Access-Control-Max-Age", "Age", "Allow", "Alt-Svc", "Cache-Control", "Connection",
		"Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
		"Content-Location", "Content-Range", "Content-Security-Policy", "Content-Type", "Date",
		"Etag", "Expires", "Keep-Alive", "Last-Modified", "Link", "Location", "Permissions-Policy",
		"Proxy-Authenticate", "Proxy-Connection", "Referrer-Policy", "Retry-After", "Server",
		"Set-Cookie", "Strict-Transport-Security", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Vary", "Www-Authenticate", "X-Content-Type-Options", "X-Frame-Options", "X-Powered-By",
		"X-Request-Id", "X-Xss-Protection",
	} {
		m[k] = k
	}
	return m
}()

// canonicalName returns the canonical form of the header name raw (a
// substring of the response head), or ok=false if raw is not a valid name.
// It allocates only for a name that is neither canonical already nor common.
func canonicalName(raw string) (name string, ok bool) {
	if raw == "" {
		return "", false
	}
	var buf [64]byte
	canonical := true
	upper := true
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !tokenChar[c] {
			return "", false
		}
		switch {
		case upper && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
			canonical = false
		case !upper && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
			canonical = false
		}
		if i < len(buf) {
			buf[i] = c
		}
		upper = c == '-'
	}
	if canonical {
		if s, found := commonHeaders[raw]; found {
			return s, true
		}
		return raw, true
	}
	if len(raw) > len(buf) {
		return textproto.CanonicalMIMEHeaderKey(raw), true
	}
	if s, found := commonHeaders[string(buf[:len(raw)])]; found {
		return s, true
	}
	return string(buf[:len(raw)]), true
}
