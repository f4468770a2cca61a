package deploy

import "testing"

func TestPlainBunInstall(t *testing.T) {
	for cmd, want := range map[string]bool{
		"bun install": true, "bun install --frozen-lockfile": true, "bun i": true, "bun ci": true,
		"bun install && bun run codegen": false, "npm ci": false, "bun install foo": false,
		"bun install --x;rm": false, "": false, "bun": false,
	} {
		if got := plainBunInstall(cmd); got != want {
			t.Errorf("plainBunInstall(%q) = %v, want %v", cmd, got, want)
		}
	}
}

func TestLooksLikeCommit(t *testing.T) {
	for ref, want := range map[string]bool{"3f9c2ab": true, "3f9c2ab5d1e0f4aa77aa210c4d9e13f9c2ab5d1e": true, "main": false, "3f9c2a": false, "3F9C2AB": false, "3f9c2ab;": false} {
		if got := looksLikeCommit(ref); got != want {
			t.Errorf("looksLikeCommit(%q) = %v, want %v", ref, got, want)
		}
	}
}
