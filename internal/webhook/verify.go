package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"mime"
	"net/url"
	"strings"

	"github.com/google/go-github/v60/github"
)

// Headers GitHub sends with each delivery.
const (
	HeaderSignature256  = "X-Hub-Signature-256"
	HeaderSignatureSHA1 = "X-Hub-Signature"       // refused: SHA-1 only
	HeaderEvent         = github.EventTypeHeader  // X-GitHub-Event
	HeaderDelivery      = github.DeliveryIDHeader // X-GitHub-Delivery
	// HeaderAnswer marks every answer of this endpoint, so a sender (ship
	// trigger) can tell it from the app's own page on the same path.
	HeaderAnswer = "X-Ship-Webhook"
)

// Content types GitHub can be configured to send.
const (
	contentJSON = "application/json"
	contentForm = "application/x-www-form-urlencoded"
)

const sha256Prefix = "sha256="

// Sign returns the X-Hub-Signature-256 value for body: "sha256=" and the
// hex HMAC-SHA256 of the body under secret, as GitHub computes it.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return sha256Prefix + hex.EncodeToString(m.Sum(nil))
}

// mediaType returns the content type without parameters, or "" when it is
// neither of the two GitHub sends.
func mediaType(header string) string {
	mt, _, err := mime.ParseMediaType(header)
	if err != nil {
		return ""
	}
	switch mt {
	case contentJSON, contentForm:
		return mt
	}
	return ""
}

var (
	errNoSignature   = errors.New("missing " + HeaderSignature256)
	errSHA1Only      = errors.New("only a SHA-1 signature (" + HeaderSignatureSHA1 + "): " + HeaderSignature256 + " is required")
	errNotSHA256     = errors.New(HeaderSignature256 + " is not sha256=HEX")
	errBadSignature  = errors.New("signature does not match the secret")
	errFormNoPayload = errors.New("form body without a payload field")
)

// signatureHeader returns the SHA-256 signature header, refusing requests
// that carry only SHA-1. go-github's ValidatePayload would fall back to
// X-Hub-Signature, and ValidateSignature honours whatever prefix it is
// given (sha1=, sha512=): so only "sha256=" in the SHA-256 header is passed
// on, never a downgrade.
func signatureHeader(h interface{ Get(string) string }) (string, error) {
	sig := h.Get(HeaderSignature256)
	if sig == "" {
		if h.Get(HeaderSignatureSHA1) != "" {
			return "", errSHA1Only
		}
		return "", errNoSignature
	}
	if !strings.HasPrefix(sig, sha256Prefix) || len(sig) != len(sha256Prefix)+2*sha256.Size {
		return "", errNotSHA256
	}
	return sig, nil
}

// verify checks sig (from signatureHeader) against the raw body. The
// comparison is go-github's: hmac.Equal, constant time.
func verify(sig string, body, secret []byte) error {
	if len(secret) == 0 {
		return errBadSignature // never accept what an empty key signs
	}
	if err := github.ValidateSignature(sig, body, secret); err != nil {
		return errBadSignature
	}
	return nil
}

// payload returns the event's JSON from a verified body: the body itself,
// or the payload field of a form. GitHub signs the raw body in both cases.
func payload(mt string, body []byte) ([]byte, error) {
	if mt != contentForm {
		return body, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errors.New("form body does not parse")
	}
	p := form.Get("payload")
	if p == "" {
		return nil, errFormNoPayload
	}
	return []byte(p), nil
}
