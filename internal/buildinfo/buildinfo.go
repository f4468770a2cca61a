// Package buildinfo says which build of a program runs: its version, the
// commit it was built from, that commit's time, whether the tree had
// uncommitted changes, and the Go toolchain. All but the version come from
// the build information Go records in every binary (runtime/debug); the
// version is the one given with -ldflags "-X …Version=v1.2.3" when there is
// one, else the module version Go recorded, else "dev".
//
// Go records no build clock (builds are reproducible), so the date shown is
// the commit's. A binary built outside a git checkout, or with
// -buildvcs=false, has no commit: it says "unknown".
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Info describes one build.
type Info struct {
	Version   string
	Commit    string    // full commit id; "" when not recorded
	Time      time.Time // the commit's time; zero when not recorded
	Modified  bool      // built from a tree with uncommitted changes
	GoVersion string    // go1.26.8
	Platform  string    // linux/amd64
}

// Read returns this program's build information; version is the -ldflags
// override ("" or "dev" when none was given).
func Read(version string) Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(bi, version)
}

func fromBuildInfo(bi *debug.BuildInfo, version string) Info {
	info := Info{Version: version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		if info.Version == "" {
			info.Version = "dev"
		}
		return info
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	if info.Version == "" || info.Version == "dev" {
		info.Version = "dev"
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			info.Version = v
		}
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			info.Time, _ = time.Parse(time.RFC3339, s.Value)
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is the text of `PROGRAM version` and `PROGRAM --version`: the
// program and version on the first line, then one fact a line.
func (i Info) String(program string) string {
	commit, date := "unknown (built without git information)", "unknown"
	if i.Commit != "" {
		commit = i.Commit
		if i.Modified {
			commit += " (with uncommitted changes)"
		}
	}
	if !i.Time.IsZero() {
		date = i.Time.UTC().Format(time.RFC3339) + " (the commit's)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", program, i.Version)
	fmt.Fprintf(&b, "commit  %s\n", commit)
	fmt.Fprintf(&b, "date    %s\n", date)
	fmt.Fprintf(&b, "go      %s %s\n", i.GoVersion, i.Platform)
	return b.String()
}
