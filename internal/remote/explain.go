package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// dialError says why a connection to ep failed and what to try: the
// network's words ("dial tcp: lookup x on 10.0.0.2:53: no such host") name
// the layer that failed, not what a person should do about it.
func dialError(ep endpoint, err error) error {
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns) && dns.IsNotFound:
		return fmt.Errorf("cannot find the host %q (no such name in DNS): check its spelling, use its IP address, or name a target in ship.yml", ep.host)
	case errors.As(err, &dns):
		return fmt.Errorf("cannot look up the host %q: %v: check the network and its DNS", ep.host, dns.Err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s refused the connection on port %d: is sshd running there, and on that port? (give another with --port or HOST:PORT)", ep.host, ep.port)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fmt.Errorf("%s is unreachable from here (%v): check the address, the VPN or the route", ep.host, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("connect to %s: %w: is the host up, and port %d open in its firewall? (--timeout raises the bound on a slow link)", ep.addr(), err, ep.port)
	}
	return fmt.Errorf("connect to %s: %w", ep.addr(), err)
}

// keyFormatError explains a key file that is not a private key.
func keyFormatError(name string, pem []byte, err error) error {
	text := strings.TrimSpace(string(pem))
	for _, prefix := range []string{"ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"} {
		if strings.HasPrefix(text, prefix) {
			return fmt.Errorf("%s is a public key (it starts with %q): give the private key, usually the same file without .pub", name, strings.TrimSpace(prefix))
		}
	}
	if strings.HasPrefix(text, "-----BEGIN") {
		return fmt.Errorf("key %s cannot be read: %w", name, err)
	}
	return fmt.Errorf("%s is not a private key (no -----BEGIN … PRIVATE KEY----- line): give an SSH private key file (%v)", name, err)
}
