package proxy

import (
	"net/textproto"
	"strings"
)

// hopHeader reports whether a canonical header name is hop-by-hop (RFC 9110
// §7.6.1 and the legacy ones): it describes one connection and is never
// forwarded as is.
func hopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// hasToken reports whether a comma-separated header value list holds token,
// case-insensitively ("Connection: keep-alive, Upgrade").
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(textproto.TrimString(t), token) {
				return true
			}
		}
	}
	return false
}

// connectionNames returns the header names listed in Connection values other
// than the usual keep-alive, close and upgrade, which name no header to drop.
// It allocates only when there are such names, which is rare.
func connectionNames(values []string) []string {
	var names []string
	for _, v := range values {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			t = textproto.TrimString(t)
			if t == "" || strings.EqualFold(t, "keep-alive") || strings.EqualFold(t, "close") ||
				strings.EqualFold(t, "upgrade") {
				continue
			}
			names = append(names, textproto.CanonicalMIMEHeaderKey(t))
		}
	}
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// tokenChar marks the bytes allowed in a header name (RFC 9110 tchar).
var tokenChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

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
