package release

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
)

// EnvMarker is the line a deploy writes into a release's .env between the
// lines the release would have had (shared/.env's, or the tree's own) and
// ship.yml's env:, which win: Bun takes the last line of a name.
const EnvMarker = "# ship.yml env: (these lines win over the ones above)"

// LiveShipEnv is what ship.yml's env: wrote into the serving release's
// .env, and that release's number: the lines below the last EnvMarker, or
// the whole file when ship wrote it alone. A release deployed without env:
// (no env_digest in its release.json) or no current release gives nil, 0.
// A pull deploy carries these lines into its release, as ship deploy would
// have written them: the server holds the secrets, ship is not there.
func LiveShipEnv(fsys FS, l Layout) ([]byte, int, error) {
	target, err := fsys.Readlink(l.Current())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", l.Current(), err)
	}
	n, ok := ParseCurrentTarget(target)
	if !ok {
		return nil, 0, nil
	}
	info, err := readJSON[Info](fsys, l.InfoFile(n))
	if err != nil || info == nil || info.EnvDigest == "" {
		return nil, 0, err
	}
	data, err := fsys.ReadFile(path.Join(l.Dir(n), ".env"))
	if err != nil {
		return nil, 0, fmt.Errorf("release %d's .env, written from ship.yml env:, cannot be read: %w", n, err)
	}
	if i := bytes.LastIndex(data, []byte("\n"+EnvMarker+"\n")); i >= 0 {
		data = data[i+len(EnvMarker)+2:]
	}
	return data, n, nil
}
