// Package api serves the maintainers' GitLab-compatible REST API at /api/v4
// over tokens.Service: users, personal access tokens, projects, members and
// deploy tokens, with GitLab's paths, field names, status codes and
// pagination.
//
// It owns the API's request reading (PRIVATE-TOKEN and Bearer credentials,
// JSON, form and multipart bodies) and GitLab's wording of errors
// (WriteError, the API surface's writer: "404 Project Not Found"). It holds
// no rule of who may do what (tokens.Service does) and authenticates
// through auth; no core package imports it.
package api
