package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/shipdeploy/ship/internal/release"
)

// Response is the JSON body of every answer.
type Response struct {
	// Status is queued, ignored, duplicate, pong, refused or off.
	Status   string `json:"status"`
	Delivery string `json:"delivery,omitempty"`
	Commit   string `json:"commit,omitempty"`
	Ref      string `json:"ref,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// Replaced is the waiting commit that this push replaced: it will not
	// be deployed on its own.
	Replaced string `json:"replaced,omitempty"`
}

// Handler is the webhook endpoint. Mount it on a path (POST /deploy).
type Handler struct {
	cfg    Config
	secret []byte
	off    string // why the endpoint is off; "" when it is on
	seen   *deliveries
	noise  limiter
	budget *semaphore.Weighted // bytes of bodies held (Config.BodyBudget)
}

// New returns the endpoint for cfg. Without a secret or a queue it is off
// (answers 503), and says so once in the log.
func New(cfg Config) *Handler {
	cfg.setDefaults()
	h := &Handler{cfg: cfg, secret: []byte(cfg.Secret), noise: limiter{perMinute: noiseLogsPerMinute},
		budget: semaphore.NewWeighted(cfg.BodyBudget)}
	switch {
	case cfg.Secret == "":
		h.off = "WEBHOOK_SECRET is not set"
	case cfg.Queue == nil:
		h.off = "no deployer is configured"
	}
	if h.off != "" {
		cfg.Logger.Warn("webhook deploys are off: " + h.off)
		return h
	}
	h.seen = newDeliveries(cfg.DeliveriesFile, cfg.Now())
	cfg.Queue.setAudit(cfg.Log)
	repo := cfg.Repository
	if repo == "" {
		repo = "any"
		cfg.Logger.Warn("webhook: pushes from any repository are accepted; set GITHUB_REPOSITORY=owner/name to check it")
	}
	cfg.Logger.Info("webhook deploys are on", "branch", cfg.Branch, "repository", repo)
	return h
}

// Enabled reports whether the endpoint accepts deliveries.
func (h *Handler) Enabled() bool { return h.off == "" }

// outcome is one answer and what the audit trail says about it.
type outcome struct {
	code       int
	resp       Response
	result     string // audit: accepted, ignored, refused, ok
	event      string
	by         string
	signed     bool // the signature matched; unsigned noise is rate limited
	audited    bool // already in the audit trail
	retryAfter bool // busy: say when to try again
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o := h.handle(w, r)
	if o.code == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	if o.retryAfter {
		w.Header().Set("Retry-After", "10")
	}
	h.record(r, o)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set(HeaderAnswer, "1")
	w.WriteHeader(o.code)
	_ = json.NewEncoder(w).Encode(o.resp)
}

func refuse(code int, reason string) outcome {
	return outcome{code: code, result: "refused", resp: Response{Status: "refused", Reason: reason}}
}

func (h *Handler) handle(w http.ResponseWriter, r *http.Request) outcome {
	if r.Method != http.MethodPost {
		return refuse(http.StatusMethodNotAllowed, "only POST is accepted")
	}
	if h.off != "" {
		return outcome{code: http.StatusServiceUnavailable, result: "refused",
			resp: Response{Status: "off", Reason: "webhook deploys are off on this server"}}
	}
	mt := mediaType(r.Header.Get("Content-Type"))
	if mt == "" {
		return refuse(http.StatusUnsupportedMediaType, "content type must be application/json or application/x-www-form-urlencoded")
	}
	sig, err := signatureHeader(r.Header)
	if err != nil {
		return refuse(http.StatusUnauthorized, err.Error())
	}
	if r.ContentLength > h.cfg.MaxBody {
		return h.tooLarge() // announced: not one byte is read
	}
	body, err := h.readBody(w, r)
	defer body.release()
	if err != nil {
		return h.bodyRefusal(err)
	}
	if err := verify(sig, body.data, h.secret); err != nil {
		return refuse(http.StatusUnauthorized, err.Error())
	}

	// Signed by someone who knows the secret: from here on every outcome
	// is recorded, and the payload may be read.
	o := h.event(r, mt, body.data)
	o.signed = true
	return o
}

func (h *Handler) event(r *http.Request, mt string, body []byte) outcome {
	event := r.Header.Get(HeaderEvent)
	delivery := r.Header.Get(HeaderDelivery)
	data, err := payload(mt, body)
	if err != nil {
		return refuse(http.StatusBadRequest, err.Error())
	}
	if !validDelivery(delivery) {
		return refuse(http.StatusBadRequest, "missing or malformed "+HeaderDelivery)
	}
	var o outcome
	switch event {
	case "":
		o = refuse(http.StatusBadRequest, "missing "+HeaderEvent)
	case "ping":
		o = h.ping(data)
	case "push":
		o = h.push(delivery, data)
	default:
		o = outcome{code: http.StatusAccepted, result: "ignored",
			resp: Response{Status: "ignored", Reason: fmt.Sprintf("event %q does not deploy", clip(event, 60))}}
	}
	o.event = clip(event, 60)
	o.resp.Delivery = delivery
	return o
}

func (h *Handler) ping(data []byte) outcome {
	var p pingEvent
	if err := json.Unmarshal(data, &p); err != nil {
		return refuse(http.StatusBadRequest, "malformed JSON payload")
	}
	o := outcome{code: http.StatusOK, result: "ok", resp: Response{Status: "pong"}}
	if p.Repository != nil && !h.repositoryOK(p.Repository.FullName) {
		o.resp.Reason = fmt.Sprintf("this hook belongs to %s; pushes from it will be refused (this server deploys %s)",
			clip(p.Repository.FullName, 100), h.cfg.Repository)
	}
	return o
}

func (h *Handler) repositoryOK(fullName string) bool {
	return h.cfg.Repository == "" || strings.EqualFold(fullName, h.cfg.Repository)
}

func (h *Handler) push(delivery string, data []byte) outcome {
	var ev PushEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return refuse(http.StatusBadRequest, "malformed JSON payload")
	}
	o := outcome{by: ev.pusher()}
	o.resp.Ref = clip(ev.Ref, 120)
	if release.IsCommitID(ev.After) {
		o.resp.Commit = ev.After
	}
	if !h.repositoryOK(ev.fullName()) {
		o.code, o.result = http.StatusForbidden, "refused"
		o.resp.Status = "refused"
		o.resp.Reason = fmt.Sprintf("push from repository %q: this server deploys %s", clip(ev.fullName(), 100), h.cfg.Repository)
		return o
	}
	d := ev.decide(h.cfg.Branch)
	if !d.deploy {
		// Not remembered: it deploys nothing, replayed or not.
		o.code, o.resp.Reason = d.status, d.reason
		o.result, o.resp.Status = "ignored", "ignored"
		if d.status >= 400 {
			o.result, o.resp.Status = "refused", "refused"
		}
		return o
	}
	now := h.cfg.Now()
	defer func() {
		if err := h.seen.save(now); err != nil {
			h.cfg.Logger.Warn("webhook: cannot save recent delivery ids", "file", h.cfg.DeliveriesFile, "err", err)
		}
	}()
	// The delivery header is not signed: a replayed body under a new id is
	// caught by the body's digest (a real push always differs: after,
	// before, timestamps).
	if !h.seen.add(now, delivery, bodyKey(data)) {
		o.code, o.result = http.StatusOK, "ignored"
		o.resp.Status = "duplicate"
		o.resp.Reason = "delivery " + delivery + " (or the same payload) was already handled: nothing to do"
		return o
	}
	if reason := h.late(&ev, now); reason != "" {
		o.code, o.result, o.resp.Status, o.resp.Reason = http.StatusAccepted, "ignored", "ignored", reason
		return o
	}
	req := Request{Commit: ev.After, Ref: ev.Ref, Delivery: delivery, Pusher: o.by, Received: now, Forced: ev.Forced}
	pushed := ev.pushedAt()
	newest := !pushed.IsZero() && h.seen.accept(pushed)
	req.MayGoBack = ev.Forced && newest
	return h.queue(o, req)
}

// late says why a push does not deploy by its signed times, or "": one
// made longer ago than deliveries are remembered could be a replay that is
// no longer recognised, and one GitHub pushed before a push already
// accepted would take the branch back to where it no longer is. (Only
// GitHub's pushed_at orders pushes: a sender's own clock may be off. A
// push without it is not ordered, and never takes the release back.)
func (h *Handler) late(ev *PushEvent, now time.Time) string {
	if sent := ev.sentAt(); !sent.IsZero() && now.Sub(sent) > deliveryMemory {
		return fmt.Sprintf("pushed at %s, more than %s ago: a replay cannot be told from a redelivery; push again to deploy",
			sent.UTC().Format(time.RFC3339), deliveryMemory)
	}
	pushed, newest := ev.pushedAt(), h.seen.newestPush()
	if !pushed.IsZero() && pushed.Before(newest) {
		return fmt.Sprintf("pushed at %s, before the push already accepted (pushed at %s): a late delivery does not deploy",
			pushed.UTC().Format(time.RFC3339), newest.UTC().Format(time.RFC3339))
	}
	return ""
}

// queue submits an accepted push.
func (h *Handler) queue(o outcome, req Request) outcome {
	// Recorded before Submit: the deploy may start, and even end, before
	// this handler returns, and the trail should read in order.
	h.cfg.Log(release.LogEntry{Time: time.Now().UTC(), Kind: "webhook", ID: req.Delivery, Result: "accepted",
		Commit: req.Commit, Ref: req.Ref, By: req.By(), Detail: "queued"})
	o.audited = true
	if old := h.cfg.Queue.Submit(req); old != nil {
		o.resp.Replaced = old.Commit
		h.cfg.Log(release.LogEntry{Time: time.Now().UTC(), Kind: "webhook", ID: old.Delivery, Result: "ignored",
			Commit: old.Commit, Ref: old.Ref, By: old.By(),
			Detail: fmt.Sprintf("superseded by delivery %s (%s) before it started", req.Delivery, release.ShortCommit(req.Commit))})
		h.cfg.Logger.Info("webhook push superseded", "delivery", old.Delivery, "commit", old.Commit, "by_delivery", req.Delivery)
	}
	o.code, o.result = http.StatusAccepted, "accepted"
	o.resp.Status = "queued"
	return o
}

// record writes the outcome to the audit trail and the log.
func (h *Handler) record(r *http.Request, o outcome) {
	if o.resp.Status == "off" {
		return // said once, in New
	}
	detail := o.resp.Reason
	if !o.signed {
		ok, suppressed := h.noise.allow(time.Now())
		if !ok {
			return
		}
		if suppressed > 0 {
			detail += fmt.Sprintf(" (and %d more refusals not logged)", suppressed)
		}
	}
	delivery := r.Header.Get(HeaderDelivery)
	if !validDelivery(delivery) {
		delivery = ""
	}
	switch {
	case o.result == "accepted":
		detail = "queued"
		if o.resp.Replaced != "" {
			detail += ", replacing " + release.ShortCommit(o.resp.Replaced)
		}
	case o.event != "" && o.event != "push":
		detail = "event " + o.event + ": " + detail
	}
	if !o.audited {
		h.cfg.Log(release.LogEntry{
			Time: time.Now().UTC(), Kind: "webhook", ID: delivery, Result: o.result,
			Commit: o.resp.Commit, Ref: o.resp.Ref, By: o.by, Detail: detail,
		})
	}
	level := slog.LevelInfo
	if o.result == "refused" {
		level = slog.LevelWarn
	}
	h.cfg.Logger.Log(r.Context(), level, "webhook "+o.result,
		"status", o.code, "event", o.event, "delivery", delivery, "commit", o.resp.Commit,
		"ref", o.resp.Ref, "reason", detail, "remote", r.RemoteAddr)
}

// bodyKey names a payload in the set of recent deliveries.
func bodyKey(data []byte) string {
	sum := sha256.Sum256(data)
	return "body-" + hex.EncodeToString(sum[:16])
}

// noiseLogsPerMinute bounds the log lines that requests without a valid
// signature can cause: anyone on the internet can send them.
const noiseLogsPerMinute = 20

// limiter lets perMinute events through in each minute and counts the rest.
type limiter struct {
	perMinute  int
	mu         sync.Mutex
	window     time.Time
	n          int
	suppressed int
}

func (l *limiter) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.window) >= time.Minute {
		l.window, l.n = now, 0
	}
	if l.n >= l.perMinute {
		l.suppressed++
		return false, 0
	}
	l.n++
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}
