// Package github records a deploy on GitHub: a deployment for the commit
// in an environment, then its statuses (in_progress, then success or
// failure) with the environment's URL and a link to the Actions run, so the
// repository's Environments page shows what runs where.
//
// Reporting is a courtesy, never a condition: callers treat every error from
// here as a warning, and without a token nothing is attempted at all. The API
// base URL comes from GITHUB_API_URL, so GitHub Enterprise Server works and
// tests point it at an httptest server.
package github
