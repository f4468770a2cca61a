package webhook

import (
	"strings"
	"testing"
	"time"
)

func TestRepositoryFromURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://github.com/acme/shop", "acme/shop"},
		{"https://github.com/acme/shop.git", "acme/shop"},
		{"https://github.com/acme/shop/", "acme/shop"},
		{"https://x-access-token:abc@github.com/acme/shop.git", "acme/shop"},
		{"http://www.github.com/acme/shop", "acme/shop"},
		{"git@github.com:acme/shop.git", "acme/shop"},
		{"github.com:acme/shop", "acme/shop"},
		{"ssh://git@github.com/acme/shop.git", "acme/shop"},
		{"ssh://git@ssh.github.com:443/acme/shop.git", "acme/shop"},
		{"git://github.com/acme/shop.git", "acme/shop"},
		{"  https://GitHub.com/acme/shop.git\n", "acme/shop"},
		{"https://gitlab.com/acme/shop.git", ""},
		{"git@gitlab.com:acme/shop.git", ""},
		{"https://github.com.evil.example/acme/shop", ""},
		{"https://github.com/acme", ""},
		{"https://github.com/acme/shop/tree/main", ""},
		{"/srv/git/shop.git", ""},
		{"./shop", ""},
		{"file:///srv/github.com/acme/shop.git", ""},
		{"", ""},
	} {
		if got := RepositoryFromURL(tc.in); got != tc.want {
			t.Errorf("RepositoryFromURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := ConfigFromEnv(env(map[string]string{"WEBHOOK_SECRET": "x", "GIT_REPO": "git@github.com:acme/shop.git"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Secret != "x" || c.Repository != "acme/shop" || c.Branch != "" {
		t.Errorf("from GIT_REPO: %+v", c)
	}
	c.setDefaults()
	if c.Branch != "main" || c.MaxBody != 1<<20 || c.BodyBudget != 8<<20 || c.BodyTimeout != 10*time.Second {
		t.Errorf("defaults: branch %q, max body %d, budget %d, timeout %v", c.Branch, c.MaxBody, c.BodyBudget, c.BodyTimeout)
	}
	c, _ = ConfigFromEnv(env(map[string]string{"GITHUB_REPOSITORY": "acme/web", "GIT_REPO": "git@github.com:acme/shop.git", "BRANCH": "refs/heads/prod"}))
	c.setDefaults()
	if c.Repository != "acme/web" || c.Branch != "prod" {
		t.Errorf("GITHUB_REPOSITORY wins and BRANCH is a name: %+v", c)
	}
}

func TestMaxBodyFromEnv(t *testing.T) {
	for _, tc := range []struct {
		v      string
		want   int64
		budget int64
		bad    bool
	}{
		{v: "4MiB", want: 4 << 20, budget: 8 << 20},
		{v: "25m", want: 25 << 20, budget: 50 << 20},
		{v: "65536", want: 64 << 10, budget: 8 << 20},
		{v: "512 KiB", want: 512 << 10, budget: 8 << 20},
		{v: "26MiB", bad: true},
		{v: "100", bad: true},
		{v: "lots", bad: true},
		{v: "4GB", bad: true},
	} {
		c, err := ConfigFromEnv(func(k string) string {
			if k == "WEBHOOK_MAX_BODY" {
				return tc.v
			}
			return ""
		})
		if tc.bad {
			if err == nil || !strings.Contains(err.Error(), "WEBHOOK_MAX_BODY") {
				t.Errorf("%q: err %v, want one naming WEBHOOK_MAX_BODY", tc.v, err)
			}
			continue
		}
		c.setDefaults()
		if err != nil || c.MaxBody != tc.want || c.BodyBudget != tc.budget {
			t.Errorf("%q: max %d budget %d (%v), want %d, %d", tc.v, c.MaxBody, c.BodyBudget, err, tc.want, tc.budget)
		}
	}
}
