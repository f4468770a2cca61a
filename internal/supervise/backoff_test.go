package supervise

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	type exit struct {
		uptime    time.Duration
		wantDelay time.Duration
	}
	crash := ExitStatus{Code: 1}
	tests := []struct {
		name          string
		b             Backoff
		exits         []exit
		wantRestarts  int
		wantCrashLoop bool
	}{
		{
			name: "doubles to the cap",
			b:    Backoff{Min: 100 * time.Millisecond, Max: 500 * time.Millisecond, StableAfter: time.Minute},
			exits: []exit{
				{0, 100 * time.Millisecond}, {0, 200 * time.Millisecond}, {0, 400 * time.Millisecond},
				{0, 500 * time.Millisecond}, {0, 500 * time.Millisecond},
			},
			wantRestarts: 5, wantCrashLoop: true,
		},
		{
			name: "a stable run starts over",
			b:    Backoff{Min: 100 * time.Millisecond, Max: time.Second, StableAfter: 10 * time.Second},
			exits: []exit{
				{time.Second, 100 * time.Millisecond}, {time.Second, 200 * time.Millisecond},
				{11 * time.Second, 100 * time.Millisecond},
			},
			wantRestarts: 3, wantCrashLoop: false,
		},
		{
			name:         "defaults",
			exits:        []exit{{0, DefaultBackoffMin}, {0, 2 * DefaultBackoffMin}},
			wantRestarts: 2, wantCrashLoop: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.b
			for i, e := range tt.exits {
				if got := b.Exited(e.uptime, crash); got != e.wantDelay {
					t.Errorf("exit %d: delay %s, want %s", i+1, got, e.wantDelay)
				}
			}
			if b.Restarts() != tt.wantRestarts || b.CrashLoop() != tt.wantCrashLoop {
				t.Errorf("restarts %d crash loop %v, want %d %v", b.Restarts(), b.CrashLoop(), tt.wantRestarts, tt.wantCrashLoop)
			}
			if b.LastExit() != "exit status 1" {
				t.Errorf("last exit %q", b.LastExit())
			}
		})
	}
}

func TestBackoffUpEndsCrashLoop(t *testing.T) {
	b := Backoff{StableAfter: time.Second}
	for range 3 {
		b.Exited(0, ExitStatus{Code: -1, Signal: "killed"})
	}
	if !b.CrashLoop() || b.LastExit() != "killed by signal: killed" {
		t.Fatalf("crash loop %v last %q", b.CrashLoop(), b.LastExit())
	}
	b.Up(500 * time.Millisecond)
	if !b.CrashLoop() {
		t.Error("a short run ended the crash loop")
	}
	b.Up(time.Second)
	if b.CrashLoop() || b.Restarts() != 3 {
		t.Errorf("after a stable run: crash loop %v restarts %d", b.CrashLoop(), b.Restarts())
	}
	if d := b.Failed("not healthy"); d != DefaultBackoffMin || b.LastExit() != "not healthy" {
		t.Errorf("Failed: delay %s last %q", d, b.LastExit())
	}
	b.Reset()
	if b.Restarts() != 0 || b.LastExit() != "" {
		t.Errorf("after Reset: %d %q", b.Restarts(), b.LastExit())
	}
}
