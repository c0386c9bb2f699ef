package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/internal/httpreq"
	"github.com/deploytokens/deploytokens/tokens"
)

// Signer signs a registry token.
type Signer interface {
	Sign(claims jwt.Claims) (string, error)
}

// Counter is told of one event; a prometheus.Counter is one. The metrics
// are built in the wiring and handed in, so this package keeps no global
// state and does not depend on a metrics library.
type Counter interface {
	Inc()
}

// TokenService is the realm of the Docker/OCI token-auth flow: it trades
// credentials for short-lived JWTs listing what the caller may do.
type TokenService struct {
	Auth    *Authenticator
	Service *tokens.Service
	Signer  Signer
	// Name is the registry's service name (aud); Issuer the iss claim.
	Name     string
	Issuer   string
	Lifetime time.Duration
	// ClientAddr answers the address failures are counted against.
	ClientAddr func(*http.Request) string
	// RefreshTokens, when set, counts the refresh tokens issued.
	RefreshTokens Counter
	// MaxRepositories caps the distinct repositories one request with
	// credentials may name, MaxAnonymousRepositories one without; a
	// request over its cap is refused 400. 0: DefaultMaxRepositories,
	// DefaultMaxAnonymousRepositories.
	MaxRepositories          int
	MaxAnonymousRepositories int
}

// Claims are the registry token's claims.
type Claims struct {
	jwt.RegisteredClaims
	// Audience is the one service, written as a string as GitLab and
	// Docker Hub write it: distribution 2.7 and older read only that form
	// (later releases either), and golang-jwt writes its own as an array.
	// It shadows RegisteredClaims.Audience.
	Audience string  `json:"aud"`
	Access   []Scope `json:"access"`
	// AuthType is "deploy_token" for a deploy token, as GitLab writes it,
	// and absent for a user. sub stays the deploy token's username (GitLab
	// leaves it out) because distribution logs sub as auth.user.name, and
	// a log of pulls with no name would be unreadable; deploy token
	// usernames and users' can't be equal (see tokens.Service), so sub and
	// auth_type together name one identity.
	AuthType string `json:"auth_type,omitempty"`
}

// AuthTypeDeployToken is the auth_type claim of a deploy token's JWT.
const AuthTypeDeployToken = "deploy_token"

// GetAudience answers the audience for golang-jwt's validation.
func (c Claims) GetAudience() (jwt.ClaimStrings, error) { return jwt.ClaimStrings{c.Audience}, nil }

// maxTokenFormBody bounds POST /jwt/auth bodies.
const maxTokenFormBody = 16 << 10

// Register mounts GET and POST /jwt/auth.
func (s *TokenService) Register(e *echo.Echo, m ...echo.MiddlewareFunc) {
	// Every other method, HEAD included (a GET may make a refresh token,
	// which a HEAD would throw away), is refused; GET and POST replace
	// this handler for their methods.
	e.Any("/jwt/auth", func(c echo.Context) error {
		c.Response().Header().Set("Allow", "GET, POST")
		return errMethod
	}, m...)
	e.GET("/jwt/auth", s.get, m...)
	e.POST("/jwt/auth", s.post, m...)
}

type tokenAnswer struct {
	Token        string `json:"token,omitempty"`
	AccessToken  string `json:"access_token"`
	Scope        string `json:"scope"` // REQUIRED by the OAuth2 answer, even when empty
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

func (s *TokenService) get(c echo.Context) error {
	r := c.Request()
	q := r.URL.Query()
	if err := s.checkService(q.Get("service")); err != nil {
		return err
	}
	p, err := s.Auth.authenticateBasic(r.Context(), r, s.ClientAddr(r))
	if err != nil {
		return err
	}
	if acct := q.Get("account"); acct != "" && p.Kind != Anonymous {
		user, _, _, _ := ParseBasic(r.Header.Get("Authorization"))
		if acct != user {
			return invalid("account must equal the Basic username")
		}
	}
	offline, err := boolParam(q.Get("offline_token"), "offline_token")
	if err != nil {
		return err
	}
	ans, err := s.issue(r.Context(), &p, q["scope"], offline)
	if err != nil {
		return err
	}
	ans.Token = ans.AccessToken
	c.Response().Header().Set("Cache-Control", "no-store") // a bearer token (RFC 6749 §5.1)
	return c.JSON(http.StatusOK, ans)
}

func (s *TokenService) post(c echo.Context) error {
	r := c.Request()
	if r.URL.RawQuery != "" {
		// Read or ignored, a parameter there would be a guess.
		return invalid("POST /jwt/auth takes its parameters in the form body, not in the query string")
	}
	mt, _, perr := httpreq.ParseBodyType(r.Header)
	if perr != nil {
		return perr
	}
	if mt != "application/x-www-form-urlencoded" {
		return invalid("POST /jwt/auth takes an application/x-www-form-urlencoded body")
	}
	r.Body = http.MaxBytesReader(c.Response(), r.Body, maxTokenFormBody)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return invalid("the form body is larger than 16 KiB")
		}
		return invalid("the form body is not valid: " + httpreq.Reason(err))
	}
	f := r.PostForm
	if k := httpreq.Repeated(f, "scope"); k != "" {
		return invalid(k + " is given more than once")
	}
	if err := s.checkService(f.Get("service")); err != nil {
		return err
	}
	ctx, addr := r.Context(), s.ClientAddr(r)
	grant := f.Get("grant_type")
	if grant != "password" {
		// A password grant checks the ban together with its credential.
		if err := s.Auth.Limiter.Check(ctx, addr); err != nil {
			return err
		}
	}
	var (
		p       Principal
		err     error
		offline bool
	)
	switch f.Get("access_type") {
	case "offline":
		offline = true
	case "online", "":
	default:
		return invalid("access_type must be offline or online")
	}
	switch grant {
	case "password":
		user := f.Get("username")
		if user == "" {
			// containerd's form of the empty Basic username (see
			// errNoUsername): asked to log in again, not counted, but a
			// banned address still hears that it is banned.
			if err := s.Auth.Limiter.Check(ctx, addr); err != nil {
				return err
			}
			return errNoUsername
		}
		if !WellFormedUsername(user) {
			// A client's mistake, not a guess: not counted, but a
			// banned address still hears that it is banned.
			if err := s.Auth.Limiter.Check(ctx, addr); err != nil {
				return err
			}
			return invalid("username must be given, in UTF-8, without NUL or line breaks")
		}
		if p, err = s.Auth.checkFrom(ctx, addr, user, f.Get("password")); err != nil {
			return err
		}
	case "refresh_token":
		// The answer carries no refresh token: the client keeps the one
		// it sent, and a secret is answered only when it is made.
		p, err = s.redeem(ctx, f.Get("refresh_token"))
		offline = false
	case GrantTokenExchange:
		// The client's address, for the exchange's audit event and the
		// token's last use, as checkFrom carries it for the other grants.
		if p, err = s.exchangeGrant(withAddr(ctx, addr), f); err != nil && !errors.Is(err, ErrDenied) {
			return err
		}
		offline = false
	case "":
		return invalid("grant_type is missing")
	default:
		return invalid("grant_type must be password, refresh_token or " + GrantTokenExchange)
	}
	if err != nil {
		return s.Auth.failed(ctx, addr, err)
	}
	ans, err := s.issue(ctx, &p, f["scope"], offline)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if grant == GrantTokenExchange {
		return c.JSON(http.StatusOK, exchangeAnswer{tokenAnswer: ans, IssuedTokenType: tokenTypeAccessToken, TokenType: "Bearer"})
	}
	return c.JSON(http.StatusOK, ans)
}

func (s *TokenService) checkService(got string) error {
	if got == "" {
		return invalid("service is missing")
	}
	if got != s.Name {
		return invalid("service must be " + strconv.Quote(s.Name))
	}
	return nil
}

func boolParam(v, name string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, invalid(name + " must be true or false")
	}
	return b, nil
}

// issue signs a token for p granting what it may of scopes, with a new
// refresh token when offline.
func (s *TokenService) issue(ctx context.Context, p *Principal, scopeValues []string, offline bool) (tokenAnswer, error) {
	if !RegistryAllowed(p) {
		return tokenAnswer{}, ErrNoRegistry
	}
	scopes := ParseScopes(scopeValues)
	if err := s.checkBudget(p, scopes); err != nil {
		return tokenAnswer{}, err
	}
	access, err := s.grant(ctx, p, scopes)
	if err != nil {
		return tokenAnswer{}, err
	}
	now := s.Service.Clock()
	exp := now.Add(s.Lifetime)
	if e := p.Expiry(); !e.IsZero() && e.Before(exp) {
		exp = e
	}
	var jti [16]byte
	rand.Read(jti[:])
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: s.Issuer, Subject: p.Name(),
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
			ID: base64.RawURLEncoding.EncodeToString(jti[:]),
		},
		Audience: s.Name,
		Access:   access,
	}
	if p.Kind == DeployTokenKind {
		claims.AuthType = AuthTypeDeployToken
	}
	signed, err := s.Signer.Sign(claims)
	if err != nil {
		return tokenAnswer{}, err
	}
	ans := tokenAnswer{AccessToken: signed, ExpiresIn: int(exp.Sub(now).Round(time.Second) / time.Second), IssuedAt: now.Format(time.RFC3339)}
	var granted []string
	for _, a := range access {
		granted = append(granted, a.Type+":"+a.Name+":"+strings.Join(a.Actions, ","))
	}
	ans.Scope = strings.Join(granted, " ")
	if offline && p.Kind != Anonymous && p.Until.IsZero() {
		if ans.RefreshToken, err = s.newRefreshToken(ctx, p, now); err != nil {
			return tokenAnswer{}, err
		}
	}
	return ans, nil
}

// grant answers the access list: each requested scope reduced to the
// actions p may do, scopes with none left dropped. The owners of all
// repositories are looked up in one store step, and a user's level in
// each project once.
func (s *TokenService) grant(ctx context.Context, p *Principal, scopes []Scope) ([]Scope, error) {
	owners, err := s.owners(ctx, p, scopes)
	if err != nil {
		return nil, err
	}
	levels := map[int64]tokens.AccessLevel{}
	access := []Scope{}
	for _, sc := range scopes {
		var actions []string
		switch sc.Type {
		case "registry":
			actions = GrantRegistry(p, sc.Actions)
		case "repository":
			proj := owners[sc.Name]
			var level tokens.AccessLevel
			if proj != nil && p.Kind == UserKind {
				var ok bool
				if level, ok = levels[proj.ID]; !ok {
					if level, err = s.Service.AccessLevel(ctx, p.User, proj); err != nil {
						return nil, err
					}
					levels[proj.ID] = level
				}
			}
			actions = GrantRepository(p, proj, level, sc.Actions)
		}
		if len(actions) > 0 {
			access = append(access, Scope{Type: sc.Type, Name: sc.Name, Actions: actions})
		}
	}
	return access, nil
}

// refreshIdle is how long a refresh token lives unused. Each use renews
// it, so a client keeps working as long as its credential does (docker
// keeps only the refresh token, not the password, after a login), while
// the records of machines gone for good leave the store.
const refreshIdle = 30 * 24 * time.Hour

// maxRefreshPerCredential bounds how many refresh tokens one credential is
// given within refreshIdle: plenty for every machine that logs in with it,
// while a loop of logins cannot fill the store (what stays is what is used
// within 30 days, renewed one by one by whoever holds it). Past it the
// answer carries none, and the client goes on with its credentials.
const maxRefreshPerCredential = 100

// refresh is what a refresh token points at: the credential it came from
// (by digest), so it dies with that credential.
type refresh struct {
	Username    string
	Digest      []byte
	DeployToken bool
}

// refreshRecord is refresh as stored: JSON, the digest in hex.
type refreshRecord struct {
	Username    string `json:"u"`
	Digest      string `json:"d"`
	DeployToken bool   `json:"t,omitempty"`
}

// errRefreshRecord: a stored value this code did not write.
var errRefreshRecord = errors.New("refresh token record does not decode")

// refreshStore keeps refresh tokens in a KV, by the digest of their
// secret (tokens.RefreshKey), and counts those given to each credential
// (tokens.RefreshQuotaKey).
type refreshStore struct{ kv tokens.KV }

// countIssued counts one more refresh token for the credential with
// digest and answers how many it was given within refreshIdle.
func (s refreshStore) countIssued(ctx context.Context, credential []byte) (int64, error) {
	return s.kv.Incr(ctx, tokens.RefreshQuotaKey(credential), refreshIdle)
}

// create stores r under the refresh token's digest, for ttl.
func (s refreshStore) create(ctx context.Context, digest []byte, r refresh, ttl time.Duration) error {
	rec, err := json.Marshal(refreshRecord{Username: r.Username, Digest: hex.EncodeToString(r.Digest), DeployToken: r.DeployToken})
	if err != nil {
		return err
	}
	return s.kv.Create(ctx, tokens.RefreshKey(digest), rec, ttl)
}

// renew answers the refresh token with digest and lets it live
// refreshIdle from now; the store's error when it has none,
// errRefreshRecord when what is stored does not decode.
func (s refreshStore) renew(ctx context.Context, digest []byte) (refresh, error) {
	raw, err := s.kv.Renew(ctx, tokens.RefreshKey(digest), refreshIdle)
	if err != nil {
		return refresh{}, err
	}
	var rec refreshRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return refresh{}, errRefreshRecord
	}
	cred, err := hex.DecodeString(rec.Digest)
	if err != nil {
		return refresh{}, errRefreshRecord
	}
	return refresh{Username: rec.Username, Digest: cred, DeployToken: rec.DeployToken}, nil
}

// delete removes the refresh token with digest.
func (s refreshStore) delete(ctx context.Context, digest []byte) error {
	return s.kv.Delete(ctx, tokens.RefreshKey(digest))
}

func (s *TokenService) refreshes() refreshStore { return refreshStore{s.Auth.Store} }

func (s *TokenService) newRefreshToken(ctx context.Context, p *Principal, now time.Time) (string, error) {
	refreshes := s.refreshes()
	n, err := refreshes.countIssued(ctx, p.Digest)
	if err != nil {
		return "", err
	}
	if n > maxRefreshPerCredential {
		return "", nil
	}
	secret, err := tokens.Generate(tokens.RefreshSecret)
	if err != nil {
		return "", err
	}
	ttl := refreshIdle
	if e := p.Expiry(); !e.IsZero() && e.Sub(now) < ttl {
		ttl = e.Sub(now)
	}
	r := refresh{Username: p.Name(), Digest: p.Digest, DeployToken: p.Kind == DeployTokenKind}
	if err := refreshes.create(ctx, s.Auth.Keys.Digest(secret.Reveal()), r, ttl); err != nil {
		return "", err
	}
	if s.RefreshTokens != nil {
		s.RefreshTokens.Inc()
	}
	return secret.Reveal(), nil
}

// redeem answers the principal a refresh token was issued to, checking the
// credential again, and renews the refresh token's idle time. Any failure
// but an outage is errRefreshInvalid: a refresh token is 160 random bits,
// so a wrong one is a client's stale state, not a guess, and it is not
// counted against the address (a machine retrying with a dead one would
// otherwise ban everyone behind its address).
func (s *TokenService) redeem(ctx context.Context, secret string) (Principal, error) {
	if !tokens.WellFormed(tokens.RefreshSecret, secret) {
		return Principal{}, errRefreshInvalid
	}
	refreshes, digest := s.refreshes(), s.Auth.Keys.Digest(secret)
	r, err := refreshes.renew(ctx, digest)
	if errors.Is(err, errRefreshRecord) {
		return Principal{}, errRefreshInvalid
	}
	if err != nil {
		return Principal{}, refreshErr(s.Auth.lookupErr(err))
	}
	p, err := s.Auth.checkDigest(ctx, r.Username, r.Digest, r.DeployToken)
	if errors.Is(err, ErrDenied) {
		// Its credential is gone for good: so is it, rather than being
		// renewed by whoever keeps trying it.
		_ = refreshes.delete(ctx, digest)
	}
	return p, refreshErr(err)
}

func refreshErr(err error) error {
	if errors.Is(err, ErrDenied) {
		return errRefreshInvalid
	}
	return err
}
