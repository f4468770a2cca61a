package release

import "testing"

func TestCommitIDs(t *testing.T) {
	full := "0123456789abcdef0123456789abcdef01234567"
	for _, c := range []struct {
		in     string
		id     bool
		shortn string
	}{
		{full, true, "0123456"},
		{full[:39], false, "0123456"},
		{full + "8", false, "0123456"},
		{"0123456789ABCDEF0123456789ABCDEF01234567", false, "0123456789ABCDEF0123456789ABCDEF01234567"},
		{"main", false, "main"},
		{"refs/heads/main", false, "refs/heads/main"},
		{"", false, ""},
		{"abc", false, "abc"},
	} {
		if got := IsCommitID(c.in); got != c.id {
			t.Errorf("IsCommitID(%q) = %v", c.in, got)
		}
		if got := ShortCommit(c.in); got != c.shortn {
			t.Errorf("ShortCommit(%q) = %q, want %q", c.in, got, c.shortn)
		}
	}
}
