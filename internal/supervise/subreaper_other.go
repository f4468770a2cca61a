//go:build unix && !linux

package supervise

import "errors"

// setSubreaper: only Linux has child subreapers; as PID 1 none is needed.
func setSubreaper() error { return errors.New("child subreaper: Linux only") }
