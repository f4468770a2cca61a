package webhook

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// maxDeliveries is how many recent keys (a delivery id and a payload digest
// per push) are remembered. GitHub redelivers on a person's request,
// usually within minutes or hours; a thousand pushes later an old delivery
// may deploy again.
const maxDeliveries = 2000

// deliveries is a bounded set of recent delivery ids: the oldest is
// forgotten first. With a file it survives restarts.
type deliveries struct {
	saveMu sync.Mutex // one save at a time: the newest snapshot lands last
	mu     sync.Mutex
	ids    map[string]struct{}
	ring   []string
	next   int
	file   string
	dirty  bool
}

func newDeliveries(file string) *deliveries {
	d := &deliveries{ids: make(map[string]struct{}, maxDeliveries), ring: make([]string, maxDeliveries), file: file}
	if file == "" {
		return d
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return d // missing (first start) or unreadable: start empty
	}
	for _, id := range strings.Split(string(data), "\n") {
		if id = strings.TrimSpace(id); validDelivery(id) {
			d.addLocked(id)
		}
	}
	return d
}

// add records the keys and reports whether none of them was seen before.
func (d *deliveries) add(keys ...string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	fresh := true
	for _, k := range keys {
		if _, seen := d.ids[k]; seen {
			fresh = false
		}
	}
	for _, k := range keys {
		d.addLocked(k)
	}
	d.dirty = true
	return fresh
}

func (d *deliveries) addLocked(id string) {
	if _, seen := d.ids[id]; seen {
		return
	}
	if old := d.ring[d.next]; old != "" {
		delete(d.ids, old)
	}
	d.ring[d.next] = id
	d.ids[id] = struct{}{}
	d.next = (d.next + 1) % len(d.ring)
}

// save writes the set to its file (temp file, fsync, rename), oldest first.
func (d *deliveries) save() error {
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	d.mu.Lock()
	if d.file == "" || !d.dirty {
		d.mu.Unlock()
		return nil
	}
	var b bytes.Buffer
	for i := range d.ring {
		if id := d.ring[(d.next+i)%len(d.ring)]; id != "" {
			b.WriteString(id)
			b.WriteByte('\n')
		}
	}
	d.dirty = false
	d.mu.Unlock()
	return writeAtomic(d.file, b.Bytes())
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
