// Package release is the on-disk contract shared by ship and the receiver
// (see DESIGN.md): the layout under APP_ROOT, the files each program writes
// for the other, and the rules for numbering, finishing, locking, swapping and
// pruning releases.
//
// Every operation goes through FS, so the same code works on the local disk
// (the receiver, `ship deploy local`) and over SFTP (ship against a server).
//
//	/app/current -> releases/7       relative symlink, replaced only by rename(2)
//	/app/releases/N/.ship/release.json   written last: the release is finished
//	/app/releases/RELOAD             reload request (JSON, or empty as from touch)
//	/app/shared/                     linked into each release
//	/app/.ship/lock/                 deploy lock (mkdir), info.json inside
//	/app/.ship/log.jsonl             audit trail, one JSON object a line
//	/app/.ship/state.json            the receiver's word
//	/app/.ship/repo.git              bare mirror of the app's repository
//	/app/.ship/bun-cache/            Bun's install cache, same filesystem
package release
