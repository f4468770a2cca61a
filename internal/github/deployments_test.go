package github

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeAPI stands in for GitHub's REST API and records what it was sent.
type fakeAPI struct {
	*httptest.Server
	mu       sync.Mutex
	requests []apiRequest
	status   int // answer to status updates; 0: 201
}

type apiRequest struct {
	Method, Path, Auth string
	Body               map[string]any
	Raw                string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		req := apiRequest{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Raw: string(raw)}
		_ = json.Unmarshal(raw, &req.Body)
		f.mu.Lock()
		f.requests = append(f.requests, req)
		status := f.status
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/deployments"):
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"id": 4242, "environment": "production"}`)
		case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/statuses"):
			if status != 0 {
				w.WriteHeader(status)
				io.WriteString(w, `{"message": "Resource not accessible by integration"}`)
				return
			}
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"id": 1}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"message": "Not Found"}`)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) got() []apiRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiRequest(nil), f.requests...)
}

func TestDeploymentLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name    string
		apiPath string // GITHUB_API_URL's path: github.com has none, GHES has /api/v3
		ok      bool
		final   string
	}{
		{"github.com success", "", true, StateSuccess},
		{"enterprise server failure", "/api/v3", false, StateFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI(t)
			sha := "3f9c2ab0c0ffee0000000000000000000000beef"
			cfg := Config{
				Token: "ghs_secret", Repository: "o/n", APIURL: api.URL + tc.apiPath,
				Ref: sha, Environment: "staging", EnvironmentURL: "https://app.example.com",
				LogURL: "https://github.com/o/n/actions/runs/77", Description: "ship: deploying",
			}
			d, err := Start(context.Background(), cfg)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			if d.ID != 4242 {
				t.Errorf("deployment id = %d, want 4242", d.ID)
			}
			if err := d.Finish(context.Background(), tc.ok, strings.Repeat("x", 200)); err != nil {
				t.Fatalf("Finish: %v", err)
			}

			reqs := api.got()
			if len(reqs) != 3 {
				t.Fatalf("got %d requests, want 3 (create, in_progress, final): %+v", len(reqs), reqs)
			}
			wantPaths := []string{
				tc.apiPath + "/repos/o/n/deployments",
				tc.apiPath + "/repos/o/n/deployments/4242/statuses",
				tc.apiPath + "/repos/o/n/deployments/4242/statuses",
			}
			for i, r := range reqs {
				if r.Method != "POST" || r.Path != wantPaths[i] {
					t.Errorf("request %d = %s %s, want POST %s", i, r.Method, r.Path, wantPaths[i])
				}
				if r.Auth != "Bearer ghs_secret" {
					t.Errorf("request %d Authorization = %q, want the token as a bearer", i, r.Auth)
				}
			}

			create := reqs[0]
			if create.Body["ref"] != sha || create.Body["environment"] != "staging" || create.Body["description"] != "ship: deploying" {
				t.Errorf("create body = %s", create.Raw)
			}
			// auto_merge must be sent as false (not left out: the API's
			// default is true), required_contexts as an empty list (not left
			// out: the default is every status check).
			if v, present := create.Body["auto_merge"]; !present || v != false {
				t.Errorf("auto_merge = %v (present %v), want false: %s", v, present, create.Raw)
			}
			if v, ok := create.Body["required_contexts"].([]any); !ok || len(v) != 0 {
				t.Errorf("required_contexts = %#v, want []: %s", create.Body["required_contexts"], create.Raw)
			}
			if _, present := create.Body["production_environment"]; present {
				t.Errorf("staging marked as production: %s", create.Raw)
			}

			for i, want := range []string{StateInProgress, tc.final} {
				b := reqs[i+1].Body
				if b["state"] != want {
					t.Errorf("status %d state = %v, want %s", i, b["state"], want)
				}
				if b["environment_url"] != cfg.EnvironmentURL || b["log_url"] != cfg.LogURL || b["environment"] != "staging" {
					t.Errorf("status %d body = %s", i, reqs[i+1].Raw)
				}
			}
			if desc, _ := reqs[2].Body["description"].(string); len([]rune(desc)) != maxDescription {
				t.Errorf("final description has %d characters, want it cut to %d", len([]rune(desc)), maxDescription)
			}
		})
	}
}

func TestStartWithoutOptionalURLs(t *testing.T) {
	api := newFakeAPI(t)
	d, err := Start(context.Background(), Config{Token: "t", Repository: "o/n", APIURL: api.URL, Ref: "main"})
	if err != nil {
		t.Fatal(err)
	}
	_ = d.Finish(context.Background(), true, "done")
	for _, r := range api.got()[1:] {
		for _, key := range []string{"environment_url", "log_url"} {
			if _, present := r.Body[key]; present {
				t.Errorf("%s sent although empty: %s", key, r.Raw)
			}
		}
	}
	if env := api.got()[0].Body["environment"]; env != DefaultEnvironment {
		t.Errorf("environment = %v, want %s", env, DefaultEnvironment)
	}
}

func TestErrorsSayWhatToDo(t *testing.T) {
	api := newFakeAPI(t)
	api.status = http.StatusForbidden
	d, err := Start(context.Background(), Config{Token: "t", Repository: "o/n", APIURL: api.URL, Ref: "abc1234"})
	if err == nil || !strings.Contains(err.Error(), "deployments: write") {
		t.Fatalf("err = %v, want a hint about the permission", err)
	}
	if d == nil || d.ID != 4242 {
		t.Fatalf("the created deployment was not returned with the error: %+v", d)
	}

	for _, repo := range []string{"", "o", "o/n/x", "/n"} {
		if _, err := Start(context.Background(), Config{Token: "t", Repository: repo, APIURL: api.URL, Ref: "main"}); err == nil {
			t.Errorf("repository %q accepted", repo)
		}
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{
		"GITHUB_REPOSITORY": "o/n", "GITHUB_API_URL": "https://ghe.example.com/api/v3",
		"GITHUB_SERVER_URL": "https://ghe.example.com", "GITHUB_RUN_ID": "99",
	}
	cfg := FromEnv(func(k string) string { return env[k] })
	if cfg.Repository != "o/n" || cfg.APIURL != env["GITHUB_API_URL"] || cfg.LogURL != "https://ghe.example.com/o/n/actions/runs/99" {
		t.Errorf("FromEnv = %+v", cfg)
	}
	if cfg.Enabled() {
		t.Error("enabled without a token")
	}
	if got := RunURL(func(string) string { return "" }); got != "" {
		t.Errorf("RunURL outside Actions = %q, want empty", got)
	}
}
