package supervise

import "time"

// Defaults for Backoff's zero fields.
const (
	DefaultBackoffMin     = 500 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultStableAfter    = 30 * time.Second
	DefaultCrashLoopAfter = 3
)

// Backoff decides how long to wait before restarting an app that exited on
// its own, and whether it is in a crash loop. Delays double from Min to Max
// for each exit in a row; an instance that stayed up for StableAfter starts
// the count again. It holds no clock: callers pass uptimes. Not safe for
// concurrent use: the receiver's loop owns it.
type Backoff struct {
	Min, Max       time.Duration
	StableAfter    time.Duration
	CrashLoopAfter int // exits in a row that make a crash loop

	restarts    int
	consecutive int
	lastExit    string
}

// Exited records an exit after uptime and returns the delay before the next
// start.
func (b *Backoff) Exited(uptime time.Duration, st ExitStatus) time.Duration {
	b.Up(uptime)
	b.restarts++
	b.consecutive++
	b.lastExit = st.String()
	lo, hi := or(b.Min, DefaultBackoffMin), or(b.Max, DefaultBackoffMax)
	d := lo
	for i := 1; i < b.consecutive && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// Failed records a start that never became healthy, as an exit.
func (b *Backoff) Failed(reason string) time.Duration {
	d := b.Exited(0, ExitStatus{})
	b.lastExit = reason
	return d
}

// Up tells the backoff an instance has been up for uptime: once that is
// StableAfter, exits in a row count from zero and the crash loop is over.
func (b *Backoff) Up(uptime time.Duration) {
	if uptime >= or(b.StableAfter, DefaultStableAfter) {
		b.consecutive = 0
	}
}

// Reset forgets all exits: a new release is serving.
func (b *Backoff) Reset() { b.restarts, b.consecutive, b.lastExit = 0, 0, "" }

// Restarts is how many restarts the exits so far caused.
func (b *Backoff) Restarts() int { return b.restarts }

// Consecutive is how many exits came in a row without a stable run between.
func (b *Backoff) Consecutive() int { return b.consecutive }

// CrashLoop reports whether the app keeps exiting soon after each start.
func (b *Backoff) CrashLoop() bool {
	n := b.CrashLoopAfter
	if n <= 0 {
		n = DefaultCrashLoopAfter
	}
	return b.consecutive >= n
}

// LastExit describes the last exit, "" when there was none.
func (b *Backoff) LastExit() string { return b.lastExit }

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
