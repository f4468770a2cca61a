package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"golang.org/x/sync/semaphore"
)

// Reading a request body before its signature can be checked: anyone can
// send one. The buffer grows with the bytes that come, never with what
// Content-Length announces, up to MaxBody; every byte it holds is taken
// from a budget that all requests share, so that a thousand connections
// announcing or trickling large bodies cost a bounded amount of memory.

// firstBodyBuf is the buffer a body starts in: small, so that a
// connection that trickles its body holds little more than it sent.
const firstBodyBuf = 1 << 10

var (
	errBodyTooLarge = errors.New("body too large")
	errBodyBusy     = errors.New("no memory for the body now")
)

// heldBody is a body read into memory and its share of the budget.
type heldBody struct {
	data   []byte
	held   int64
	budget *semaphore.Weighted
}

func (b *heldBody) release() {
	if b.held > 0 {
		b.budget.Release(b.held)
		b.held = 0
	}
}

// readBody reads r's body within MaxBody, BodyTimeout and the budget. The
// caller releases what it holds when done with the data.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (*heldBody, error) {
	now := time.Now()
	// Not every ResponseWriter supports deadlines (httptest's recorder):
	// then the server's own timeouts are all there is.
	_ = http.NewResponseController(w).SetReadDeadline(now.Add(h.cfg.BodyTimeout))
	// A share of the budget is waited for a quarter of that: the bodies
	// that hold it have as long as the timeout to end.
	ctx, cancel := context.WithDeadline(r.Context(), now.Add(h.cfg.BodyTimeout/4))
	defer cancel()
	b := &heldBody{budget: h.budget}
	size := min(int64(firstBodyBuf), h.cfg.MaxBody)
	if n := r.ContentLength; n >= 0 && n < size {
		size = min(n+1, h.cfg.MaxBody) // room for the end to show without growing
	}
	for {
		if len(b.data) == cap(b.data) {
			if int64(len(b.data)) >= h.cfg.MaxBody {
				return b, h.endsHere(r.Body)
			}
			if err := b.grow(ctx, size); err != nil {
				return b, err
			}
			size = min(2*size, h.cfg.MaxBody)
		}
		n, err := r.Body.Read(b.data[len(b.data):cap(b.data)])
		b.data = b.data[:len(b.data)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// grow makes room for size bytes, taking the difference from the budget.
func (b *heldBody) grow(ctx context.Context, size int64) error {
	if more := size - int64(cap(b.data)); more > 0 {
		if err := b.budget.Acquire(ctx, more); err != nil {
			return errBodyBusy
		}
		b.held += more
		data := make([]byte, len(b.data), size)
		copy(data, b.data)
		b.data = data
	}
	return nil
}

// endsHere checks that a body that filled MaxBody has no byte more.
func (h *Handler) endsHere(body io.Reader) error {
	var one [1]byte
	n, err := io.ReadFull(body, one[:])
	switch {
	case n > 0:
		return errBodyTooLarge
	case err == io.EOF:
		return nil
	}
	return err
}

func (h *Handler) tooLarge() outcome {
	return refuse(http.StatusRequestEntityTooLarge,
		fmt.Sprintf("body larger than %d bytes (WEBHOOK_MAX_BODY raises the cap)", h.cfg.MaxBody))
}

// bodyRefusal is the answer to a body that could not be read.
func (h *Handler) bodyRefusal(err error) outcome {
	switch {
	case errors.Is(err, errBodyTooLarge):
		return h.tooLarge()
	case errors.Is(err, errBodyBusy):
		o := refuse(http.StatusServiceUnavailable, "too many deliveries are being read at once: try again")
		o.retryAfter = true
		return o
	case errors.Is(err, os.ErrDeadlineExceeded):
		return refuse(http.StatusRequestTimeout, fmt.Sprintf("the body did not arrive within %s", h.cfg.BodyTimeout))
	}
	return refuse(http.StatusBadRequest, "cannot read the body")
}
