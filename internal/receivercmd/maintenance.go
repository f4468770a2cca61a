package receivercmd

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"

	"github.com/shipdeploy/ship/internal/release"
)

// Maintenance mode: while .ship/maintenance.json is there (ship maintenance
// TARGET on), the proxy answers every request but the webhook's with 503,
// Retry-After and shared/maintenance.html (or a plain page); the app keeps
// running, and deploys stage and switch as usual behind the page. The loop
// looks at the file when the watcher sees it change and on every tick.

// maxMaintenancePage bounds the page held in memory (the proxy buffers a
// local answer up to 1 MiB).
const maxMaintenancePage = 512 << 10

// plainMaintenancePage is the page when shared/maintenance.html is missing.
const plainMaintenancePage = "503 Service Unavailable: down for maintenance, back soon.\n"

// maintenanceState is what the loop last applied.
type maintenanceState struct {
	on      *release.Maintenance // nil: off
	page    os.FileInfo          // the page it serves (nil: the plain one)
	refused bool                 // restart mode was asked: said once
}

// checkMaintenance applies .ship/maintenance.json and the page as they are
// now. Called by the loop only.
func (r *receiver) checkMaintenance() {
	m, err := release.ReadMaintenance(r.fsys, r.l)
	if err != nil {
		r.log.Warn("cannot read the maintenance file: left as it was", "err", err)
		return
	}
	st := &r.maint
	if m == nil {
		if st.on != nil {
			r.proxy.Override(nil)
			r.log.Info("maintenance off: the app answers again")
			r.state.update(func(s *release.State) { s.Maintenance = nil })
		}
		*st = maintenanceState{}
		return
	}
	if r.proxy == nil {
		if !st.refused {
			r.log.Warn("maintenance asked, but restart mode has no proxy to answer in the app's place", "file", r.l.Maintenance())
			st.refused = true
		}
		return
	}
	page, _ := os.Stat(r.l.MaintenancePage())
	if st.on != nil && *st.on == *m && samePage(st.page, page) {
		return
	}
	h, shown := r.maintenanceHandler(m, page)
	r.proxy.Override(h)
	st.on, st.page = m, page
	on := *m
	on.Page = shown
	r.log.Info("maintenance on: answering 503 in the app's place", "page", orPlain(shown), "retry_after_s", m.RetryAfter, "by", m.By)
	r.state.update(func(s *release.State) { s.Maintenance = &on })
}

// maintenanceHandler reads the page (info: its file, nil when missing) and
// returns the handler and what it shows.
func (r *receiver) maintenanceHandler(m *release.Maintenance, info os.FileInfo) (http.Handler, string) {
	h := &maintenancePage{body: []byte(plainMaintenancePage), contentType: "text/plain; charset=utf-8", retryAfter: m.RetryAfter}
	if info == nil {
		return h, ""
	}
	body, err := readPage(r.l.MaintenancePage())
	if err != nil {
		r.log.Warn("cannot serve the maintenance page: the plain one is served", "err", err)
		return h, ""
	}
	h.body, h.contentType = body, "text/html; charset=utf-8"
	return h, "shared/maintenance.html"
}

func readPage(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	body, err := io.ReadAll(io.LimitReader(f, maxMaintenancePage+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxMaintenancePage {
		return nil, errors.New(name + " is larger than 512 KiB")
	}
	return body, nil
}

func samePage(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

func orPlain(page string) string {
	if page == "" {
		return "plain"
	}
	return page
}

// maintenancePage answers 503 with the page and Retry-After.
type maintenancePage struct {
	body        []byte
	contentType string
	retryAfter  int
}

// maxDrainedBody is how much of a request's body is read and dropped, so
// that the client's connection can carry its next request.
const maxDrainedBody = 64 << 10

func (p *maintenancePage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxDrainedBody))
	h := w.Header()
	h.Set("Content-Type", p.contentType)
	h.Set("Cache-Control", "no-store")
	if p.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(p.retryAfter))
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	if r.Method != http.MethodHead {
		_, _ = io.Copy(w, bytes.NewReader(p.body))
	}
}

// isMaintenance reports whether a file event in .ship/ is about the
// maintenance file.
func isMaintenance(name string) bool { return name == "maintenance.json" }
