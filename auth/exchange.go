package auth

import (
	"context"
	"net/url"
)

// OAuth 2.0 Token Exchange (RFC 8693) on POST /jwt/auth: a workload trades
// its OIDC token for a registry token without a Basic header, as cloud
// STS endpoints do.
const (
	// GrantTokenExchange is RFC 8693's grant_type.
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	// TokenTypeJWT and TokenTypeIDToken are the subject_token_type values
	// taken: an OIDC token is both (a Kubernetes service-account token or
	// a CI job token is a JWT; an ID token is one too).
	TokenTypeJWT     = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeIDToken = "urn:ietf:params:oauth:token-type:id_token"
	// tokenTypeAccessToken is what is issued: the registry token.
	tokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// exchangeAnswer is the registry token answer with the two fields RFC
// 8693 §2.2.1 requires.
type exchangeAnswer struct {
	tokenAnswer
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
}

// exchangeGrant reads a token-exchange request: subject_token (the OIDC
// token), subject_token_type, and username, the deploy token to act as. RFC
// 8693 leaves naming the target to the deployment (resource, audience);
// the username is what every other grant of this endpoint and docker login
// name the credential by, and what a policy is looked up by. Malformed
// requests are 400 naming the field, not counted; a token that is refused
// is ErrDenied, counted by the caller as a wrong password is.
func (s *TokenService) exchangeGrant(ctx context.Context, f url.Values) (Principal, error) {
	for _, k := range []string{"subject_token", "subject_token_type", "username", "requested_token_type", "actor_token"} {
		if len(f[k]) > 1 {
			return Principal{}, invalid(k + " is given more than once")
		}
	}
	if f.Get("actor_token") != "" {
		return Principal{}, invalid("actor_token is not supported: a workload exchanges its own token")
	}
	switch f.Get("subject_token_type") {
	case TokenTypeJWT, TokenTypeIDToken:
	case "":
		return Principal{}, invalid("subject_token_type is missing")
	default:
		return Principal{}, invalid("subject_token_type must be " + TokenTypeJWT + " or " + TokenTypeIDToken)
	}
	if rt := f.Get("requested_token_type"); rt != "" && rt != tokenTypeAccessToken {
		return Principal{}, invalid("requested_token_type must be " + tokenTypeAccessToken)
	}
	user, tok := f.Get("username"), f.Get("subject_token")
	if !WellFormedUsername(user) {
		return Principal{}, invalid("username must name the deploy token to act as, in UTF-8, without NUL or line breaks")
	}
	if tok == "" {
		return Principal{}, invalid("subject_token is missing")
	}
	if len(tok) > maxJWTLen {
		return Principal{}, invalid("subject_token is longer than 8 KiB")
	}
	if !LooksLikeJWT(tok) {
		return Principal{}, invalid("subject_token must be a JWT (header.payload.signature)")
	}
	return s.Auth.federated(ctx, user, tok)
}
