package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// Cookie and form field names. GitLab calls its CSRF field
// authenticity_token.
const (
	sessionCookie = "_deploytokens_session"
	csrfCookie    = "_deploytokens_csrf"
	csrfField     = "authenticity_token"
)

// DefaultSessionTTL is how long a web session lasts when Handler.SessionTTL
// is zero.
const DefaultSessionTTL = 12 * time.Hour

// flashTTL bounds how long a flash waits for the page that shows it.
const flashTTL = 10 * time.Minute

// session is what the store keeps under session:<digest of the secret>.
// The secret itself lives only in the browser's cookie.
type session struct {
	UserID int64 `json:"user_id"`
	// Scopes of the personal access token signed in with: read_api alone
	// may look but not change, as in the API.
	Scopes []string `json:"scopes"`
	// PATDigest is the keyed digest of that token (never the token), to
	// check it again on every page. A session without one, from an earlier
	// version, is signed out.
	PATDigest []byte `json:"pat_digest"`
}

func (s *session) canWrite() bool { return s != nil && hasScope(s.Scopes, tokens.ScopeAPI) }

func hasScope(have []string, want string) bool {
	for _, h := range have {
		if h == want {
			return true
		}
	}
	return false
}

// sessionStore keeps web sessions and their flashes in a KV, by the
// digest of the session's secret, so a copy of the store can't be
// replayed as a cookie: sessions under tokens.SessionKey, flashes under
// tokens.FlashKey of the secret and the flash's id.
type sessionStore struct {
	kv   tokens.KV
	keys *tokens.Keys
}

func (h *Handler) sessions() sessionStore {
	return sessionStore{kv: h.Service.Store, keys: h.Service.Keys}
}

func (s sessionStore) sessionKey(secret string) string {
	return tokens.SessionKey(s.keys.Digest(secret))
}

func (s sessionStore) flashKey(secret, id string) string {
	return tokens.FlashKey(s.keys.Digest(secret + "\x00" + id))
}

// legacyFlashKey is where the previous version kept a session's one flash.
func (s sessionStore) legacyFlashKey(secret string) string {
	return tokens.FlashKey(s.keys.Digest(secret))
}

// get answers the session of secret, or nil when there is none or what is
// stored is not one this code wrote.
func (s sessionStore) get(ctx context.Context, secret string) (*session, error) {
	b, err := s.kv.Get(ctx, s.sessionKey(secret))
	if errors.Is(err, tokens.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var sess session
	if err := json.Unmarshal(b, &sess); err != nil || sess.UserID <= 0 {
		// A record this code did not write; treat it as signed out.
		return nil, nil
	}
	return &sess, nil
}

// create stores sess under secret for ttl.
func (s sessionStore) create(ctx context.Context, secret string, sess session, ttl time.Duration) error {
	b, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	return s.kv.Create(ctx, s.sessionKey(secret), b, ttl)
}

// delete removes the session of secret.
func (s sessionStore) delete(ctx context.Context, secret string) error {
	return s.kv.Delete(ctx, s.sessionKey(secret))
}

// putFlash stores f for the session of secret under a fresh id and
// answers the id, sealed as putFlash (the Handler's) says.
func (s sessionStore) putFlash(ctx context.Context, secret string, f flash) (string, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return "", err
	}
	sealed, err := s.keys.SealFor(tokens.Secret(b), secret, "web-flash")
	if err != nil {
		return "", err
	}
	for range 2 { // a second id only if 128 random bits collided
		var raw [16]byte
		rand.Read(raw[:])
		id := hex.EncodeToString(raw[:])
		err = s.kv.Create(ctx, s.flashKey(secret, id), sealed, flashTTL)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, tokens.ErrConflict) {
			break
		}
	}
	return "", err
}

// takeFlash answers the flash id of the session of secret and deletes it
// in one step; nil when there is none or it does not open. id "" takes
// the legacy one.
func (s sessionStore) takeFlash(ctx context.Context, secret, id string) (*flash, error) {
	key := s.legacyFlashKey(secret)
	if id != "" {
		key = s.flashKey(secret, id)
	}
	sealed, err := s.kv.Take(ctx, key)
	if errors.Is(err, tokens.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	plain, err := s.keys.OpenFor(sealed, secret, "web-flash")
	if err != nil && id == "" {
		// Sealed by a version from before SealFor, with the server key.
		plain, err = s.keys.Open(sealed, "web-flash\x00"+secret)
	}
	if err != nil {
		return nil, nil
	}
	var f flash
	if err := json.Unmarshal([]byte(plain.Reveal()), &f); err != nil {
		return nil, nil
	}
	return &f, nil
}

// loadSession answers the session of the cookie's secret, or nil when there
// is none (no cookie, malformed, expired, signed out).
func (h *Handler) loadSession(ctx context.Context, secret string) (*session, error) {
	if !tokens.WellFormed(tokens.SessionSecret, secret) {
		return nil, nil
	}
	s, err := h.sessions().get(ctx, secret)
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	return s, nil
}

// createSession stores a new session and answers its secret.
func (h *Handler) createSession(ctx context.Context, s session, ttl time.Duration) (tokens.Secret, error) {
	secret, err := tokens.Generate(tokens.SessionSecret)
	if err != nil {
		return "", err
	}
	if err := h.sessions().create(ctx, secret.Reveal(), s, ttl); err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	return secret, nil
}

// deleteSession ends a session on every replica. Its flashes stay until
// they expire, sealed under the session secret no one holds any more.
func (h *Handler) deleteSession(ctx context.Context, secret string) error {
	if !tokens.WellFormed(tokens.SessionSecret, secret) {
		return nil
	}
	if err := h.sessions().delete(ctx, secret); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

func (h *Handler) sessionTTL() time.Duration {
	if h.SessionTTL > 0 {
		return h.SessionTTL
	}
	return DefaultSessionTTL
}

// cookie answers a cookie of this site: HttpOnly, SameSite=Lax, Secure
// when the server is reached over https. maxAge < 0 deletes it.
func (h *Handler) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: h.base() + "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: h.ExternalURL.Scheme == "https",
	}
}

// csrfToken answers the token a form must carry. It is bound to the
// session secret when signed in, else to a random cookie (the sign-in
// form), and keyed by the server secret, so no other site can compute it
// and every replica accepts it.
func (h *Handler) csrfToken(base string) string {
	if base == "" {
		return ""
	}
	return hex.EncodeToString(h.Service.Keys.Digest("web-csrf\x00" + base))
}

// checkCSRF answers whether a POST carries the token of its session (or
// of its pre-session cookie) and did not come from another site.
func (h *Handler) checkCSRF(r *http.Request, base string) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false
	}
	want := h.csrfToken(base)
	got := r.PostForm.Get(csrfField)
	return want != "" && hmac.Equal([]byte(got), []byte(want))
}

// newAnonCSRF answers a fresh random value for the pre-session cookie.
func newAnonCSRF() string {
	var b [20]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func validAnonCSRF(s string) bool {
	if len(s) != 40 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// flash carries a message, and the secret of a token just created, from
// a POST to the page its redirect shows. It is read once. Either
// ProjectID or, for a group's settings page, GroupID says whose page.
type flash struct {
	ProjectID int64     `json:"project_id"`
	GroupID   int64     `json:"group_id,omitempty"`
	Notice    string    `json:"notice,omitempty"`
	NewToken  *newToken `json:"new_token,omitempty"`
}

// newToken is a token just created, with its one-time secret.
type newToken struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Username string `json:"username"`
	Secret   string `json:"secret"`
}

// putFlash stores f for the session under a fresh id, which the redirect
// to the page that shows it carries (?flash=id): each POST has a flash of
// its own, so concurrent ones from one session don't contend. It is sealed
// under a key derived from the session secret, which the store never sees,
// and the server secret: a copy of the store, even with the server secret,
// can't read a new token's secret.
func (h *Handler) putFlash(ctx context.Context, secret string, f flash) (string, error) {
	id, err := h.sessions().putFlash(ctx, secret, f)
	if err != nil {
		return "", fmt.Errorf("put flash: %w", err)
	}
	return id, nil
}

// validFlashID reports whether id has the shape putFlash gives.
func validFlashID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// takeFlash answers the session's flash id and deletes it in one step, so
// neither a reload nor a second request racing the first (a double click,
// a prefetch) shows it again; nil when there is none. id "" takes the one
// flash a replica of the previous version kept per session, during a
// rolling upgrade (a flash lives flashTTL); remove that once no such
// replica can remain.
func (h *Handler) takeFlash(ctx context.Context, secret, id string) (*flash, error) {
	f, err := h.sessions().takeFlash(ctx, secret, id)
	if err != nil {
		return nil, fmt.Errorf("take flash: %w", err)
	}
	return f, nil
}
