// Package githttp hosts each project's bare git repository and serves it to
// git clients over the smart HTTP protocol (v0, v1 and v2), by running git's
// own "git http-backend" as a CGI program.
//
// It owns the repository directories under one root, the parsing and
// validation of git URLs, the choice of which git routes exist (smart HTTP
// only; no dumb file serving) and the life of the backend process, which ends
// when the client goes away.
//
// It does not decide who may fetch or push: the caller passes that decision
// in as Config.Authorize (package auth writes it), and renders its errors
// through Config.OnError.
package githttp
