package release

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLiveShipEnv(t *testing.T) {
	ship := "SECRET='a\nb'\nGREETING=hi\n"
	for _, tc := range []struct {
		name, digest, env string
		want              string
		wantN             int
	}{
		{"merged over shared/.env", "ab12", "A=1\n\n" + EnvMarker + "\nA=2\n\n" + EnvMarker + "\n" + ship, ship, 1},
		{"written alone", "ab12", ship, ship, 1},
		{"deployed without env:", "", "A=1\n", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := Layout{Root: t.TempDir()}
			os.MkdirAll(filepath.Join(l.Dir(1), ".ship"), 0o755)
			WriteJSON(LocalFS{}, l.InfoFile(1), Info{Number: 1, EnvDigest: tc.digest})
			os.WriteFile(filepath.Join(l.Dir(1), ".env"), []byte(tc.env), 0o600)
			os.Symlink(CurrentTarget(1), l.Current())
			got, n, err := LiveShipEnv(LocalFS{}, l)
			if err != nil || string(got) != tc.want || n != tc.wantN {
				t.Errorf("got %q from %d (%v), want %q from %d", got, n, err, tc.want, tc.wantN)
			}
		})
	}
	if got, n, err := LiveShipEnv(LocalFS{}, Layout{Root: t.TempDir()}); got != nil || n != 0 || err != nil {
		t.Errorf("no current release: %q %d %v", got, n, err)
	}
}
