package auth

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/deploytokens/deploytokens/tokens"
)

// Kind says what authenticated a principal.
type Kind int

// Kinds of principals.
const (
	Anonymous Kind = iota
	UserKind
	DeployTokenKind
)

// Principal is who a request acts as.
type Principal struct {
	Kind Kind
	// User and PAT are set for UserKind.
	User *tokens.User
	PAT  *tokens.PersonalAccessToken
	// Token and Project are set for DeployTokenKind; a group deploy
	// token's Project is zero and its Group set.
	Token   *tokens.DeployToken
	Project *tokens.Project
	Group   *tokens.Group
	// Digest is the keyed digest of the credential, kept so refresh tokens
	// can find it again.
	Digest []byte
	// Until, when set, is the expiry of the OIDC token that authenticated
	// a deploy token principal (see Federation): nothing it is given may
	// outlive it.
	Until time.Time
}

// Name answers the principal's username ("" for anonymous).
func (p *Principal) Name() string {
	switch p.Kind {
	case UserKind:
		return p.User.Username
	case DeployTokenKind:
		return p.Token.Username
	}
	return ""
}

// Expiry answers when the credential stops working (zero: never).
func (p *Principal) Expiry() time.Time {
	var e *time.Time
	switch p.Kind {
	case UserKind:
		e = p.PAT.ExpiresAt
	case DeployTokenKind:
		e = p.Token.ExpiresAt
	}
	if !p.Until.IsZero() && (e == nil || p.Until.Before(*e)) {
		return p.Until
	}
	if e == nil {
		return time.Time{}
	}
	return *e
}

// Reaches reports whether a deploy token principal's scopes apply to
// proj: its own project's, or for a group token any project in the
// group's subtree, present or future (compared by path, which a group
// keeps for good).
func (p *Principal) Reaches(proj *tokens.Project) bool {
	if p.Kind != DeployTokenKind {
		return false
	}
	if p.Token.GroupID != 0 {
		return p.Group != nil && tokens.GroupHolds(p.Group, proj)
	}
	return p.Token.ProjectID == proj.ID
}

// touchEvery bounds how often this replica writes a credential's last
// use (touch.go).
const touchEvery = time.Minute

// touchPAT records t's use off the request path; the configured admin
// token (ID 0) has no record to write it to.
func (a *Authenticator) touchPAT(ctx context.Context, t *tokens.PersonalAccessToken, now time.Time) {
	if t.ID != 0 {
		a.touch(touchKey{id: t.ID}, useAt(ctx, now))
	}
}

// Authenticator checks credentials against the store.
type Authenticator struct {
	Store  tokens.Store
	Keys   *tokens.Keys
	Now    func() time.Time
	Logger *slog.Logger
	// Limiter, when set, bans addresses with too many failures.
	Limiter *Limiter
	// Admin, when set, is the admin token: configuration, not a stored
	// PAT, so replacing it ends the old one at once.
	Admin *AdminToken
	// Federation, when set, takes an OIDC token as a Basic password for
	// the deploy tokens whose federated identities trust it.
	Federation *Federation
	// OnExchange, when set, hears of each OIDC exchange that admitted a
	// deploy token (the audit trail records it).
	OnExchange func(ctx context.Context, t tokens.DeployToken, subject, from, message string)

	touches touchQueue
}

// AdminToken is the configured token of the admin user.
type AdminToken struct {
	Digest []byte
	User   tokens.User
}

// adminPAT answers the admin principal when digest is the admin token's.
func (a *Authenticator) adminPAT(digest []byte) (tokens.PersonalAccessToken, tokens.User, bool) {
	if a.Admin == nil || subtle.ConstantTimeCompare(digest, a.Admin.Digest) != 1 {
		return tokens.PersonalAccessToken{}, tokens.User{}, false
	}
	return tokens.PersonalAccessToken{UserID: a.Admin.User.ID, Name: "admin token", Scopes: tokens.PATScopes}, a.Admin.User, true
}

// patByDigest finds a PAT: the admin token, or one in the store.
func (a *Authenticator) patByDigest(ctx context.Context, digest []byte) (tokens.PersonalAccessToken, tokens.User, error) {
	if t, u, ok := a.adminPAT(digest); ok {
		return t, u, nil
	}
	return a.Store.PATByDigest(ctx, digest)
}

func (a *Authenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// maxCredentialLen bounds usernames and secrets before any work is done.
const maxCredentialLen = 1024

// Check authenticates username and secret: a deploy token (matched only
// with its own username), or a user's personal access token. Any mismatch
// answers ErrDenied; store outages ErrUnavailable.
func (a *Authenticator) Check(ctx context.Context, username, secret string) (Principal, error) {
	if username == "" || secret == "" || len(username) > maxCredentialLen || len(secret) > maxCredentialLen {
		return Principal{}, ErrDenied
	}
	return a.checkDigest(ctx, username, a.Keys.Digest(secret), strings.HasPrefix(secret, string(tokens.DeployTokenSecret)))
}

// checkDigest does one store lookup: deploy tokens by their prefix, every
// other secret (PATs, a configured admin token) as a PAT.
func (a *Authenticator) checkDigest(ctx context.Context, username string, digest []byte, deployToken bool) (Principal, error) {
	if deployToken {
		// The read the hot path makes (without a ban): one round trip as
		// DeployTokenByDigest, and it answers a group token's group.
		r, err := a.Store.DeployTokenForAuth(ctx, tokens.DeployTokenQuery{Digest: digest, Username: username})
		if err == nil && !r.Found {
			err = tokens.ErrNotFound
		}
		return a.deployTokenPrincipal(ctx, username, digest, r, err)
	}
	t, u, err := a.patByDigest(ctx, digest)
	return a.patPrincipal(ctx, username, digest, t, u, err)
}

// patPrincipal decides what looking up a personal access token by digest
// answered (t and u, or err) for a request with username.
func (a *Authenticator) patPrincipal(ctx context.Context, username string, digest []byte, t tokens.PersonalAccessToken, u tokens.User, err error) (Principal, error) {
	if err != nil {
		return Principal{}, a.lookupErr(err)
	}
	now := a.now()
	why := refusal(tokens.Equal(strings.ToLower(u.Username), strings.ToLower(username)), t.Revoked, t.Active(now))
	if why == "" && u.Blocked {
		why = errBlocked
	}
	if why != "" {
		a.logRefusal("personal access token", t.ID, why)
		return Principal{}, ErrDenied
	}
	a.touchPAT(ctx, &t, now)
	return Principal{Kind: UserKind, User: &u, PAT: &t, Digest: digest}, nil
}

// deployTokenPrincipal decides what looking up a deploy token by digest
// answered (r, or err) for a request with username.
func (a *Authenticator) deployTokenPrincipal(ctx context.Context, username string, digest []byte, r tokens.DeployTokenAuth, err error) (Principal, error) {
	if err != nil {
		return Principal{}, a.lookupErr(err)
	}
	t, p, g := r.Token, r.Project, r.Group
	now := a.now()
	why := refusal(tokens.Equal(t.Username, username), t.Revoked, t.Active(now))
	if why == "" && digest != nil {
		// No digest: an OIDC exchange (federation.go), which presented
		// no secret of the token's, so neither secret's grace applies.
		why = rotatedRefusal(&t, digest, now)
	}
	if why != "" {
		a.logRefusal("deploy token", t.ID, why)
		return Principal{}, ErrDenied
	}
	use := useAt(ctx, now)
	if digest != nil && subtle.ConstantTimeCompare(digest, t.Digest) != 1 {
		// The previous secret, in its grace (rotatedRefusal): its own
		// last use too, so operators see when it has gone quiet.
		use.PrevAt, use.PrevIP, use.PrevAgent, use.PrevDigest = &use.At, use.IP, use.Agent, t.PrevDigest
	}
	a.touch(touchKey{deployToken: true, id: t.ID}, use)
	pr := Principal{Kind: DeployTokenKind, Token: &t, Project: &p, Digest: digest}
	if t.GroupID != 0 {
		pr.Group = &g
	}
	return pr, nil
}

// refusal says why a token whose secret matched is refused anyway, or ""
// when it is not. The caller sees ErrDenied either way; the reason is for
// the operator's log, where "expired" and "revoked" save a holder's
// support request from guessing at typos.
func refusal(userMatches, revoked, active bool) string {
	switch {
	case !userMatches:
		return "the username is not the token's"
	case revoked:
		return "revoked"
	case !active:
		return "expired"
	}
	return ""
}

// errBlocked is why a blocked user's token is refused. The token is read
// with its user on every request (no cache holds PATs), so blocking takes
// effect at the next request everywhere: the API, git, /jwt/auth, refresh
// tokens and web sessions. Deploy tokens the user created are the
// project's and keep working, as in GitLab.
const errBlocked = "the user is blocked"

// logRefusal logs why a credential was refused, once the answer is
// decided and without store work. checkFrom logs one line for every
// refusal, an unknown secret's and a banned address's included: a
// refusal with a reason to log must not take longer than one without, or
// its time would tell a guesser that the secret exists. (A goroutine per
// line measured slower on two cores than writing it in place.)
func (a *Authenticator) logRefusal(kind string, id int64, why string) {
	if a.Logger != nil {
		a.Logger.Info("credentials refused", "kind", kind, "id", id, "reason", why)
	}
}

// CheckPAT authenticates a personal access token alone (the API's
// PRIVATE-TOKEN header carries no username).
func (a *Authenticator) CheckPAT(ctx context.Context, secret string) (Principal, error) {
	if secret == "" || len(secret) > maxCredentialLen {
		return Principal{}, ErrDenied
	}
	p, err := a.CheckPATDigest(ctx, a.Keys.Digest(secret))
	if err != nil {
		return Principal{}, err
	}
	a.touchPAT(ctx, p.PAT, a.now())
	return p, nil
}

// CheckPATDigest checks a personal access token (or the admin token) by
// the digest of its secret, as a web session opened with it is checked on
// every page: ErrDenied once it is revoked, expired, replaced or gone.
func (a *Authenticator) CheckPATDigest(ctx context.Context, digest []byte) (Principal, error) {
	t, u, err := a.patByDigest(ctx, digest)
	if err != nil {
		return Principal{}, a.lookupErr(err)
	}
	if !t.Active(a.now()) {
		return Principal{}, ErrDenied
	}
	if u.Blocked {
		a.logRefusal("personal access token", t.ID, errBlocked)
		return Principal{}, ErrDenied
	}
	return Principal{Kind: UserKind, User: &u, PAT: &t, Digest: digest}, nil
}

func (a *Authenticator) lookupErr(err error) error {
	if errors.Is(err, tokens.ErrNotFound) {
		return ErrDenied
	}
	if errors.Is(err, tokens.ErrUnavailable) {
		return ErrUnavailable
	}
	return err
}

// ParseBasic reads an Authorization: Basic header. ok is false when the
// header is absent or not Basic; a malformed Basic header is a 400, one
// longer than any credential ErrDenied, and one with an empty username a
// 401 that asks for credentials again (errNoUsername).
func ParseBasic(header string) (username, secret string, ok bool, err error) {
	if header == "" {
		return "", "", false, nil
	}
	scheme, rest, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", false, nil
	}
	rest = strings.TrimSpace(rest)
	if len(rest) > 4*maxCredentialLen {
		return "", "", true, ErrDenied
	}
	raw, derr := base64.StdEncoding.DecodeString(rest)
	if derr != nil {
		return "", "", true, errMalformedBasic
	}
	username, secret, found := strings.Cut(string(raw), ":")
	if found && username == "" {
		return "", "", true, errNoUsername
	}
	if !found || !WellFormedUsername(username) {
		return "", "", true, errMalformedBasic
	}
	return username, secret, true, nil
}

// WellFormedUsername reports whether a client sent something a username
// can be: not empty, UTF-8, no NUL or line break. Anything else is the
// client's mistake, to refuse without counting it as a failed login.
func WellFormedUsername(u string) bool {
	return u != "" && utf8.ValidString(u) && !strings.ContainsAny(u, "\x00\r\n")
}

// authenticateBasic authenticates a request's Basic credentials, counting
// failures against the client address; no credentials is Anonymous.
func (a *Authenticator) authenticateBasic(ctx context.Context, r *http.Request, addr string) (Principal, error) {
	ctx = WithUserAgent(ctx, r.UserAgent())
	user, secret, ok, err := ParseBasic(r.Header.Get("Authorization"))
	if len(r.Header.Values("Authorization")) > 1 {
		// Which one counts would be a guess: none does.
		ok, err = true, errTwoAuthorizations
	}
	if ok && err == nil {
		return a.checkFrom(ctx, addr, user, secret)
	}
	if err := a.Limiter.Check(ctx, addr); err != nil {
		return Principal{}, err
	}
	if !ok {
		return Principal{Kind: Anonymous}, nil
	}
	return Principal{}, a.failed(ctx, addr, err)
}

// failed counts a denial against addr and answers err, or the limiter's
// refusal when the denial is past the limit or could not be counted.
func (a *Authenticator) failed(ctx context.Context, addr string, err error) error {
	if errors.Is(err, ErrDenied) {
		if lerr := a.Limiter.Failed(ctx, addr); lerr != nil {
			return lerr
		}
	}
	return err
}

// Banned answers the refusal of a request from addr while it is banned
// (429 with the time left), or nil.
func (a *Authenticator) Banned(ctx context.Context, addr string) error {
	return a.Limiter.Check(ctx, addr)
}

// PATFrom authenticates a personal access token presented from addr: the
// ban check (429 while addr is banned), then CheckPAT, a denial counted
// against addr. No secret at all is refused uncounted: it guesses nothing.
func (a *Authenticator) PATFrom(ctx context.Context, addr, secret string) (Principal, error) {
	ctx = withAddr(ctx, addr)
	if err := a.Limiter.Check(ctx, addr); err != nil {
		return Principal{}, err
	}
	if secret == "" {
		return Principal{}, ErrDenied
	}
	p, err := a.CheckPAT(ctx, secret)
	if err != nil {
		return Principal{}, a.failed(ctx, addr, err)
	}
	return p, nil
}
