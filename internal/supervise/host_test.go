package supervise

import (
	"strings"
	"testing"
	"time"
)

func TestStartSetsTheHost(t *testing.T) {
	const show = `echo "HOST=$HOST NITRO_HOST=$NITRO_HOST HOSTNAME=$HOSTNAME"`
	all := func(h string) string { return "HOST=" + h + " NITRO_HOST=" + h + " HOSTNAME=" + h }
	tests := []struct {
		name string
		host string
		env  []string
		want string
	}{
		{name: "loopback by default", want: all("127.0.0.1")},
		{name: "over the environment's", env: []string{"HOST=0.0.0.0", "HOSTNAME=web1"}, want: all("127.0.0.1")},
		{name: "a given host", host: "10.1.2.3", want: all("10.1.2.3")},
		{name: "KeepHost keeps the environment's", host: KeepHost, env: []string{"HOST=0.0.0.0", "HOSTNAME=", "NITRO_HOST="}, want: "HOST=0.0.0.0 NITRO_HOST= HOSTNAME="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := start(t, Spec{Command: show, Host: tt.host, Env: tt.env})
			waitExit(t, p, 5*time.Second)
			if got := strings.Join(p.Tail(), "\n"); got != tt.want {
				t.Errorf("app saw %q, want %q", got, tt.want)
			}
		})
	}
}
