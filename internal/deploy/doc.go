// Package deploy is the pipeline shared by `ship deploy` (over SSH or on the
// local machine) and the receiver's webhook deploys: lock, source, shared,
// install, build, switch, reload, prune, and the roll back when a step or
// the receiver says no.
//
// Round trips are the cost of a deploy over a slow link, so the steps up to
// the switch run on the host as ONE shell script (built here, every value
// quoted with shell.Quote) that prints marker lines as it goes. ship reads
// the markers to time and report each stage; the app's output between them
// is kept per stage and shown when a stage fails or with -v. Decisions that
// need the whole picture (what to prune, whether to wait, rolling back) are
// made here in Go from the survey the script prints after taking the lock,
// and carried out with a second short script or through the host's FS.
//
// The script stops itself when ship goes away: its standard input stays open
// for the whole run, and a watcher that sees it close (ship killed, SSH
// connection cut) stops the build and frees the lock. The half-made release
// has no release.json and is swept by the next deploy.
package deploy
