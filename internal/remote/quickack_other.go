//go:build !linux

package remote

import "net"

func QuickAck(c net.Conn) net.Conn { return c }
