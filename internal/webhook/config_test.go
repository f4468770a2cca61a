package webhook

import "testing"

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
	c := ConfigFromEnv(env(map[string]string{"WEBHOOK_SECRET": "x", "GIT_REPO": "git@github.com:acme/shop.git"}))
	if c.Secret != "x" || c.Repository != "acme/shop" || c.Branch != "" {
		t.Errorf("from GIT_REPO: %+v", c)
	}
	c.setDefaults()
	if c.Branch != "main" || c.MaxBody != 25<<20 {
		t.Errorf("defaults: branch %q, max body %d", c.Branch, c.MaxBody)
	}
	c = ConfigFromEnv(env(map[string]string{"GITHUB_REPOSITORY": "acme/web", "GIT_REPO": "git@github.com:acme/shop.git", "BRANCH": "refs/heads/prod"}))
	c.setDefaults()
	if c.Repository != "acme/web" || c.Branch != "prod" {
		t.Errorf("GITHUB_REPOSITORY wins and BRANCH is a name: %+v", c)
	}
}
