// Package githttp hosts each project's bare git repository and serves it to
// git clients over the smart HTTP protocol (v0, v1 and v2), by running git's
// own "git http-backend" as a CGI program.
//
// It owns the repository directories under one root, the parsing of git
// URLs (a project path in them is checked by the domain's one rule set,
// tokens.ValidateProjectPath), the choice of which git routes exist (smart HTTP
// only; no dumb file serving) and the life of the backend process, which ends
// when the client goes away or stops reading, and the fair share of backends
// between clients with credentials, anonymous ones and client addresses.
//
// It does not decide who may fetch or push: the caller passes that decision
// in as Config.Authorize (package auth writes it), and renders its errors
// through Config.OnError; WriteError is the git surface's writer of the
// server's one error pipeline (internal/httperr).
package githttp
