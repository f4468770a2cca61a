package webhook

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// deliveryMemory is how long a delivery id and a payload digest are
// remembered. GitHub redelivers a delivery for at most three days, on a
// person's request; a push signed longer ago than this is refused (see
// Handler.push), so a replay of it can never pass unremembered.
const deliveryMemory = 7 * 24 * time.Hour

// maxDeliveries bounds the remembered keys all the same (two per push to
// the branch): a flood of signed pushes can only come from the secret's
// holder, but memory and the file stay bounded. Past it the oldest go
// first, and the order of signed push times still guards the branch.
const maxDeliveries = 100_000

// newestKey names the newest accepted push's time in the file: no delivery
// id can be it (validDelivery refuses '@').
const newestKey = "@newest-push"

// deliveries is the set of recent delivery keys, kept by time, and the
// signed time of the newest push accepted for a deploy. With a file it
// survives restarts.
type deliveries struct {
	saveMu sync.Mutex // one save at a time: the newest snapshot lands last
	mu     sync.Mutex
	at     map[string]time.Time
	order  []entry // oldest first
	newest time.Time
	file   string
	dirty  bool
}

type entry struct {
	key string
	at  time.Time
}

// newDeliveries loads file (lines "KEY UNIXTIME"; a bare key, from before
// times were kept, counts as seen now).
func newDeliveries(file string, now time.Time) *deliveries {
	d := &deliveries{at: map[string]time.Time{}, file: file}
	if file == "" {
		return d
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return d // missing (first start) or unreadable: start empty
	}
	for _, line := range strings.Split(string(data), "\n") {
		key, unix, _ := strings.Cut(strings.TrimSpace(line), " ")
		at := now
		if n, err := strconv.ParseInt(unix, 10, 64); err == nil {
			at = time.Unix(n, 0)
		}
		switch {
		case key == newestKey:
			d.newest = at
		case validDelivery(key):
			d.addLocked(key, at)
		}
	}
	d.forgetLocked(now)
	return d
}

// add records the keys at now and reports whether none of them was seen
// within deliveryMemory.
func (d *deliveries) add(now time.Time, keys ...string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.forgetLocked(now)
	fresh := true
	for _, k := range keys {
		if _, seen := d.at[k]; seen {
			fresh = false
		}
	}
	for _, k := range keys {
		d.addLocked(k, now)
	}
	d.forgetLocked(now) // the bound
	d.dirty = true
	return fresh
}

func (d *deliveries) addLocked(key string, at time.Time) {
	if _, seen := d.at[key]; seen {
		return
	}
	d.at[key] = at
	d.order = append(d.order, entry{key, at})
}

// forgetLocked drops the keys older than deliveryMemory, and the oldest
// past maxDeliveries.
func (d *deliveries) forgetLocked(now time.Time) {
	cut := 0
	for cut < len(d.order) && (now.Sub(d.order[cut].at) > deliveryMemory || len(d.order)-cut > maxDeliveries) {
		delete(d.at, d.order[cut].key)
		cut++
	}
	d.order = d.order[cut:] // the array is let go of as append grows it
}

// accept records the signed time of a push accepted for a deploy, and
// reports whether it is strictly newer than every one before: only such a
// push may take the release back to an older commit. A push older than
// the newest accepted is not accepted at all (see Handler.push).
func (d *deliveries) accept(pushed time.Time) (newest bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	newest = pushed.After(d.newest)
	if newest {
		d.newest, d.dirty = pushed, true
	}
	return newest
}

// newestPush is the signed time of the newest push accepted so far.
func (d *deliveries) newestPush() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.newest
}

// save writes the set to its file (temp file, fsync, rename), oldest first.
func (d *deliveries) save(now time.Time) error {
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	d.mu.Lock()
	if d.file == "" || !d.dirty {
		d.mu.Unlock()
		return nil
	}
	d.forgetLocked(now)
	var b bytes.Buffer
	if !d.newest.IsZero() {
		writeKey(&b, newestKey, d.newest)
	}
	for _, e := range d.order {
		writeKey(&b, e.key, e.at)
	}
	d.dirty = false
	d.mu.Unlock()
	return writeAtomic(d.file, b.Bytes())
}

func writeKey(b *bytes.Buffer, key string, at time.Time) {
	b.WriteString(key)
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(at.Unix(), 10))
	b.WriteByte('\n')
}

func writeAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// validDelivery accepts what GitHub sends (a GUID) and what `ship trigger`
// does, and nothing that would spoil a log line or the file.
func validDelivery(id string) bool {
	if id == "" || len(id) > 100 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
