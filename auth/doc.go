// Package auth turns a request into a principal (Basic credentials, personal
// access tokens, deploy tokens, OIDC tokens a deploy token's federated
// identities trust, anonymous; with failure limiting per client address)
// and a principal into what it may do: registry scopes and grants, git
// fetch or push, API calls. It serves the registry token endpoint
// /jwt/auth of the Docker/OCI token-auth flow and writes its errors
// (WriteRegistry, the registry surface's writer). Its failures are domain
// errors (tokens.Error); it holds no REST or HTML adapters.
//
// It reads records through tokens.Store but never changes them, except a
// token's last use; in the store's KV it keeps its own state through typed
// stores: failure counters and bans, refresh tokens. It signs through a Signer and
// never sees key material. OIDC issuers' discovery documents and key sets
// are fetched (Federation) with timeouts and cached, never per request.
package auth
