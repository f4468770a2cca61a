package release

import (
	"path"
	"strconv"
)

// Layout names the paths of the contract under one APP_ROOT.
type Layout struct{ Root string }

func (l Layout) Current() string       { return path.Join(l.Root, "current") }
func (l Layout) Releases() string      { return path.Join(l.Root, "releases") }
func (l Layout) Dir(n int) string      { return path.Join(l.Root, "releases", strconv.Itoa(n)) }
func (l Layout) InfoFile(n int) string { return path.Join(l.Dir(n), ".ship", "release.json") }
func (l Layout) BadFile(n int) string  { return path.Join(l.Dir(n), ".ship", "bad.json") }
func (l Layout) Reload() string        { return l.Request(RequestReload) }
func (l Layout) Request(kind string) string {
	return path.Join(l.Root, "releases", kind)
}
func (l Layout) Answers() string         { return path.Join(l.Root, ".ship", "answers") }
func (l Layout) Answer(id string) string { return path.Join(l.Root, ".ship", "answers", id) }
func (l Layout) Runs() string            { return path.Join(l.Root, ".ship", "runs") }
func (l Layout) Run(id string) string    { return path.Join(l.Root, ".ship", "runs", id) }
func (l Layout) Shared() string          { return path.Join(l.Root, "shared") }
func (l Layout) ShipDir() string         { return path.Join(l.Root, ".ship") }
func (l Layout) Lock() string            { return path.Join(l.Root, ".ship", "lock") }
func (l Layout) LockInfo() string        { return path.Join(l.Root, ".ship", "lock", "info.json") }
func (l Layout) Log() string             { return path.Join(l.Root, ".ship", "log.jsonl") }
func (l Layout) State() string           { return path.Join(l.Root, ".ship", "state.json") }
func (l Layout) Mirror() string          { return path.Join(l.Root, ".ship", "repo.git") }
func (l Layout) BunCache() string        { return path.Join(l.Root, ".ship", "bun-cache") }
func (l Layout) AppLogDir() string       { return path.Join(l.Root, ".ship", "logs") }
func (l Layout) AppLog() string          { return path.Join(l.Root, ".ship", "logs", "app.log") }
func (l Layout) Maintenance() string     { return path.Join(l.Root, ".ship", "maintenance.json") }
func (l Layout) MaintenancePage() string { return path.Join(l.Root, "shared", "maintenance.html") }

// CurrentTarget is what `current` points to for release n: relative, so the
// tree can be moved or mounted elsewhere (a container volume) and stay valid.
func CurrentTarget(n int) string { return "releases/" + strconv.Itoa(n) }

// ParseNumber returns the release number of a folder name under releases/.
// Only plain decimal numbers ≥ 1 are releases; anything else is never touched.
func ParseNumber(name string) (int, bool) {
	if name == "" || len(name) > 9 || name[0] == '0' {
		return 0, false
	}
	for _, r := range name {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(name)
	return n, err == nil && n > 0
}

// ParseCurrentTarget returns the release number a `current` link target names:
// "releases/7", "./releases/7", or an absolute ".../releases/7".
func ParseCurrentTarget(target string) (int, bool) {
	dir, name := path.Split(path.Clean(target))
	if path.Base(path.Clean(dir)) != "releases" {
		return 0, false
	}
	return ParseNumber(name)
}
