// Package web serves the maintainers' web pages over tokens.Service: sign
// in with a username and a personal access token, the projects a user can
// see, how to use a project with a deploy token, and GitLab's Settings ›
// Repository › Deploy tokens page to create (shown once), list and revoke
// them, for a project or a group alike. Pages are rendered on the server
// and work without JavaScript.
//
// It owns the web session (a random secret in an HttpOnly cookie, only its
// keyed digest in the store's KV, so replicas share sessions and signing out
// ends them everywhere), the CSRF tokens of its forms and the one-time
// flash that carries a new token's secret across the redirect after
// creation (one per POST, named in the redirect, sealed under the session
// secret). It decides nothing about who may do what: tokens.Service does.
package web
