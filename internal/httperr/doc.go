// Package httperr is the server's one error pipeline: Classify maps any
// error (a domain *tokens.Error, an *Error of the HTTP exchange itself,
// echo's own, a store outage, anything else) to a status, a message a
// client may read, a registry error code and a Retry-After, and Surface
// declares which writer renders a route group's errors. The writers live
// with their surfaces: GitLab's JSON in internal/api, the registry's
// errors array in auth, git's text in internal/githttp, HTML in
// internal/web.
//
// It depends on the domain (tokens) and echo only; the core never imports
// it, except the registry realm in auth, which is itself a surface.
package httperr
