package release

// IsCommitID reports whether s is a full SHA-1 commit id: 40 lower-case hex
// digits, the form release.json, GitHub's pushes and git rev-parse use.
func IsCommitID(s string) bool {
	return len(s) == 40 && isLowerHex(s)
}

// ShortCommit is a commit id as people read it: its first 7 digits. Text
// that is not a hex id (a ref, "") is returned as it is.
func ShortCommit(s string) string {
	if len(s) > 7 && isLowerHex(s) {
		return s[:7]
	}
	return s
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
