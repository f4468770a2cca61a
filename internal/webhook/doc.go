// Package webhook is the receiver's GitHub webhook: the second way to deploy,
// where GitHub calls the server and the server runs the same pipeline as
// `ship deploy`, locally.
//
// A request goes through, in order: method (POST), content type (JSON or a
// form with payload=…), the X-Hub-Signature-256 header (SHA-1's
// X-Hub-Signature alone is refused), the body, the HMAC (go-github's
// ValidateSignature, a constant-time compare), and only then the event.
// Nothing in the body is trusted or even parsed before the signature
// matched.
//
// The body is read before anything proves who sent it, so reading it costs
// what was sent, never what was announced: a Content-Length over MaxBody
// (1 MiB by default, WEBHOOK_MAX_BODY) is refused unread, and the buffer
// grows with the bytes that come, taking each from a budget all requests
// share (BodyBudget, 8 MiB). A request that cannot get its share soon is
// told to retry (503); a body that does not arrive within BodyTimeout
// (10 s) is refused (408).
//
// A push to refs/heads/BRANCH that is not a deletion queues a deploy of
// exactly its `after` commit, never "whatever the branch is now", so a
// redelivered or late push deploys what it said. Each delivery deploys at
// most once: GitHub's redelivery reuses the id, and since that header is not
// signed, a replayed body under a new id is caught by the body's digest.
// The ids and digests are kept for 7 days (GitHub redelivers for three),
// by time, not count, and survive restarts in Config.DeliveriesFile. A push
// signed as pushed longer ago than that is refused, since a replay of it
// could no longer be recognised, and so is one pushed before a push
// already accepted (a late delivery): the signed times order the pushes.
// Only a forced push newer than all before it may take the release back
// to an older commit (Request.MayGoBack). The Queue runs
// deploys one at a time in its own goroutine and keeps only the newest
// waiting push, so a burst of pushes during a build ends with one more
// deploy, of the newest commit. Responses never wait for a build: GitHub
// gives up after 10 s.
//
// Every outcome is written to the audit trail (Config.Log, .ship/log.jsonl
// in the receiver) and the slog logger; refusals of unsigned requests are
// rate limited there, so that noise from the internet cannot fill the disk.
// The secret never appears in a log, an error or a response.
package webhook
