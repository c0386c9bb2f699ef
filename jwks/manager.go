package jwks

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/deploytokens/deploytokens/tokens"
)

// KeyStore keeps the key set that replicas share; tokens.KV satisfies it.
type KeyStore interface {
	// Get answers the value at key, or an error for which
	// Config.IsNotFound is true when there is none.
	Get(ctx context.Context, key string) ([]byte, error)
	// CompareAndSwap replaces old with value; old == nil means key must be
	// absent. It fails when the current value differs.
	CompareAndSwap(ctx context.Context, key string, old, value []byte) error
}

// Sealer encrypts private keys at rest in the store, bound to a context;
// *tokens.Keys satisfies it.
type Sealer interface {
	Seal(s tokens.Secret, context string) ([]byte, error)
	Open(sealed []byte, context string) (tokens.Secret, error)
}

// Defaults of Config.
const (
	DefaultStoreKey         = tokens.KeySetKey
	DefaultChainStoreKey    = tokens.ChainKeySetKey
	DefaultMaxTokenLifetime = time.Hour
	DefaultRefreshInterval  = 10 * time.Second
)

// Config configures a Manager. Exactly one of KeyFile and Store is set.
type Config struct {
	// Alg is the algorithm of new keys: ES256 (default), RS256 or EdDSA.
	// With KeyFile it is taken from the key; if set it must agree.
	Alg string
	// KidFormat is the form of the kid of new keys: KidThumbprint
	// (default) or KidLibtrust. A stored key keeps the kid it was created
	// with, so every replica names it alike; a change of KidFormat takes
	// effect with the next rotation.
	KidFormat string
	// X5C sends the key's certificate in the x5c header of every token.
	// ModeX5C implies it.
	X5C bool
	// Mode is how a registry finds the key that signed a token: ModeJWKS
	// (default) or ModeX5C.
	Mode string
	// KeyRotation is, in ModeX5C, how long a leaf key signs before Run
	// replaces it with a new one; 0: only Rotate does, and a leaf's
	// certificate never expires (nothing would renew it).
	KeyRotation time.Duration
	// RSABits is the size of new RS256 keys (default and minimum 2048).
	RSABits int

	// KeyFile is the path of a PEM file holding one private key and,
	// optionally, its certificate (see GenerateKeyPEM). Such a key is used
	// as it is: never generated, never rotated.
	KeyFile string

	// Store keeps the key set shared by replicas, under StoreKey
	// (DefaultStoreKey when empty, DefaultChainStoreKey in ModeX5C).
	Store    KeyStore
	StoreKey string
	// IsNotFound tells the store's "no such key" error; required with
	// Store.
	IsNotFound func(error) bool
	// Sealer, when set, encrypts private keys in the store. Sets written
	// without it are still read.
	Sealer Sealer

	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// MaxTokenLifetime bounds the lifetime of the tokens Sign accepts, and
	// a retired key stays published that long (plus RefreshInterval) after
	// its last token. Default DefaultMaxTokenLifetime.
	MaxTokenLifetime time.Duration
	// RefreshInterval is how often Run reloads the set from the store, so
	// rotations by another replica are picked up. Default
	// DefaultRefreshInterval.
	RefreshInterval time.Duration
	// RotationLead publishes a key made by Rotate that long before it
	// starts signing, so a registry that reads the key set only when it
	// starts can be given the new key in time. Default 0: it signs at once.
	RotationLead time.Duration

	// Logger receives key creation, rotation and refresh events (discarded
	// when nil).
	Logger *slog.Logger
}

// Errors of a Manager.
var (
	// ErrStaticKey means the key comes from Config.KeyFile and does not
	// rotate.
	ErrStaticKey = errors.New("signing key comes from a key file and does not rotate")
	// ErrRotationPending means the newest key does not sign yet (a
	// rotation with a lead is under way): another rotation now would make
	// a key that retires the pending one before it ever signs.
	ErrRotationPending = errors.New("a rotated key is published but does not sign yet")
	// ErrKeySetChanged means another replica changed the stored key set
	// during a rotation; the Manager now uses that set.
	ErrKeySetChanged = errors.New("key set changed concurrently")
	// ErrTokenLifetime means a token to sign has no expiry, or one beyond
	// Config.MaxTokenLifetime, after which its key may be unpublished.
	ErrTokenLifetime = errors.New("token expiry missing or beyond the maximum token lifetime")
	// ErrLeafExpired means, in ModeX5C, that the active leaf's certificate
	// ends before the token would: scheduled rotation has been failing.
	ErrLeafExpired = errors.New("signing certificate ends before the token")
)

func (c *Config) setDefaults() {
	if c.Alg == "" && c.KeyFile == "" {
		c.Alg = ES256
	}
	if c.KidFormat == "" {
		c.KidFormat = KidThumbprint
	}
	if c.RSABits == 0 {
		c.RSABits = MinRSABits
	}
	if c.Mode == "" {
		c.Mode = ModeJWKS
	}
	if c.Mode == ModeX5C {
		c.X5C = true
	}
	if c.StoreKey == "" {
		c.StoreKey = DefaultStoreKey
		if c.Mode == ModeX5C {
			c.StoreKey = DefaultChainStoreKey
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxTokenLifetime == 0 {
		c.MaxTokenLifetime = DefaultMaxTokenLifetime
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = DefaultRefreshInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem of c at once, each naming its setting.
func (c Config) Validate() error {
	var errs []error
	switch c.Alg {
	case "", ES256, RS256, EdDSA:
	default:
		errs = append(errs, fmt.Errorf("jwks: Alg %q is not one of %s, %s, %s", c.Alg, ES256, RS256, EdDSA))
	}
	switch c.KidFormat {
	case "", KidThumbprint, KidLibtrust:
	default:
		errs = append(errs, fmt.Errorf("jwks: KidFormat %q is not one of %s, %s", c.KidFormat, KidThumbprint, KidLibtrust))
	}
	errs = append(errs, c.validateMode()...)
	if c.RSABits != 0 && c.RSABits < MinRSABits {
		errs = append(errs, fmt.Errorf("jwks: RSABits %d is below %d", c.RSABits, MinRSABits))
	}
	switch {
	case c.KeyFile != "" && c.Store != nil:
		errs = append(errs, errors.New("jwks: KeyFile and Store are exclusive"))
	case c.KeyFile == "" && c.Store == nil:
		errs = append(errs, errors.New("jwks: one of KeyFile and Store is required"))
	case c.Store != nil && c.IsNotFound == nil:
		errs = append(errs, errors.New("jwks: IsNotFound is required with Store"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"MaxTokenLifetime", c.MaxTokenLifetime}, {"RefreshInterval", c.RefreshInterval}, {"RotationLead", c.RotationLead}, {"KeyRotation", c.KeyRotation}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("jwks: %s %s is negative", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// Manager signs tokens with the active key of its key set and publishes the
// set. Its methods are safe for concurrent use.
type Manager struct {
	cfg  Config
	log  *slog.Logger
	view atomic.Pointer[view]

	store   keySetStore
	mu      sync.Mutex // serializes loads and rotations
	current revision   // the stored set the view was built from
	keys    []*signingKey
	root    *material            // ModeX5C: the key that issues the leaves
	parsed  map[string]*material // by stored private key text
}

// material is what parsing a stored key yields; kept across reloads so a
// refresh does not parse every key again.
type material struct {
	alg     string
	method  jwt.SigningMethod
	private crypto.Signer
	cert    *x509.Certificate
}

// signingKey is a key of the set, ready to sign and to publish.
type signingKey struct {
	*material
	kid         string
	header      string // the encoded JOSE header of its tokens
	jwk         jose.JSONWebKey
	createdAt   time.Time
	activateAt  time.Time
	retireAfter time.Time // zero while no successor is planned
}

// view is what Sign and the exports read, replaced whole on every change.
type view struct {
	keys  []*signingKey // by activateAt, oldest first
	jwks  []byte
	certs []byte
	root  []byte // ModeX5C: the root certificate (PEM), also in certs
}

// active answers the key that signs at now: the last one activated, or the
// first one while none is (a replica whose clock lags the creator's).
func (v *view) active(now time.Time) *signingKey {
	a := v.keys[0]
	for _, k := range v.keys[1:] {
		if !k.activateAt.After(now) {
			a = k
		}
	}
	return a
}

// New answers a Manager with its key set loaded: read from KeyFile, or from
// the store, creating it there when no replica has yet.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	m := &Manager{
		cfg: cfg, log: cfg.Logger, parsed: map[string]*material{},
		store: keySetStore{kv: cfg.Store, key: cfg.StoreKey, isNotFound: cfg.IsNotFound},
	}
	if cfg.KeyFile != "" {
		if err := m.loadFile(); err != nil {
			return nil, err
		}
		return m, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.load(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Sign answers claims as a JWT signed with the active key; its header has
// typ JWT, the key's kid and, with Config.X5C, its certificate. The claims
// must expire within Config.MaxTokenLifetime (ErrTokenLifetime).
func (m *Manager) Sign(claims jwt.Claims) (string, error) {
	now := m.cfg.Now()
	exp, err := claims.GetExpirationTime()
	if err != nil {
		return "", fmt.Errorf("jwks: sign: %w", err)
	}
	if exp == nil || exp.After(now.Add(m.cfg.MaxTokenLifetime)) {
		return "", ErrTokenLifetime
	}
	v := m.view.Load()
	k := v.active(now)
	if v.root != nil && exp.After(k.cert.NotAfter) {
		// The registry would refuse the token for the leaf's expiry; say
		// why here instead.
		return "", fmt.Errorf("jwks: sign: %w: key %s's certificate ends %s", ErrLeafExpired, k.kid, k.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jwks: sign: encode claims: %w", err)
	}
	// golang-jwt signs; the parts are joined here because its
	// Token.SignedString would encode the header map again for every token
	// when it is the same for all of a key's tokens. Measured with go test
	// -bench on the 2-CPU build machine, that doubles the work outside the
	// signature: 5.3 µs, 27 allocs against 2.7 µs, 13 allocs (5.7 µs, 33
	// allocs against 2.9 µs, 13 allocs with x5c), about a tenth of an ES256
	// or EdDSA Sign. The header is json.Marshal's, never spelled by hand.
	signing := k.header + "." + b64.EncodeToString(payload)
	sig, err := k.method.Sign(signing, k.private)
	if err != nil {
		return "", fmt.Errorf("jwks: sign: %w", err)
	}
	return signing + "." + b64.EncodeToString(sig), nil
}

// ActiveKID answers the kid of the key that signs now.
func (m *Manager) ActiveKID() string {
	return m.view.Load().active(m.cfg.Now()).kid
}

// JWKS answers the published public keys as a JSON Web Key Set, each with
// its kid, alg and use "sig": what distribution's auth.token.jwks reads.
func (m *Manager) JWKS() []byte {
	return bytes.Clone(m.view.Load().jwks)
}

// CertificatesPEM answers the self-signed certificates of the published
// keys, or in ModeX5C the root certificate alone: what distribution's
// auth.token.rootcertbundle reads.
func (m *Manager) CertificatesPEM() []byte {
	return bytes.Clone(m.view.Load().certs)
}

// KeyInfo describes a published key.
type KeyInfo struct {
	KID       string
	Alg       string
	CreatedAt time.Time
	// ActivateAt is when it starts signing (zero for a key file).
	ActivateAt time.Time
	// RetireAfter is when its successor starts signing; zero while it has
	// none.
	RetireAfter time.Time
	// Active tells the key that signs now.
	Active bool
}

// Keys describes the published keys, oldest first.
func (m *Manager) Keys() []KeyInfo {
	v := m.view.Load()
	active := v.active(m.cfg.Now())
	out := make([]KeyInfo, 0, len(v.keys))
	for _, k := range v.keys {
		out = append(out, KeyInfo{
			KID: k.kid, Alg: k.alg, CreatedAt: k.createdAt,
			ActivateAt: k.activateAt, RetireAfter: k.retireAfter, Active: k == active,
		})
	}
	return out
}

// Refresh reloads the key set from the store, picking up another replica's
// rotation and unpublishing keys whose tokens have all expired. With a key
// file it does nothing.
func (m *Manager) Refresh(ctx context.Context) error {
	if m.cfg.Store == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.load(ctx)
}

// Run refreshes the key set every Config.RefreshInterval until ctx is done,
// logging failures (the Manager keeps signing with the set it has). With a
// key file it returns at once.
func (m *Manager) Run(ctx context.Context) error {
	if m.cfg.Store == nil {
		return nil
	}
	t := time.NewTicker(m.cfg.RefreshInterval)
	defer t.Stop()
	for {
		// First at once: a server started after a long stop must not sign
		// with a leaf near its end until the first tick.
		m.rotateIfDue(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := m.Refresh(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("refresh signing keys", "err", err)
			}
		}
	}
}

// Rotate adds a new key that signs from now (plus Config.RotationLead) on;
// the key it replaces stays published until every token it signed has
// expired. Stored keys past that are dropped. ErrKeySetChanged when another
// replica changed the set meanwhile (the Manager then uses theirs),
// ErrRotationPending while the key of an earlier rotation does not sign
// yet, and ErrStaticKey with a key file.
func (m *Manager) Rotate(ctx context.Context) error {
	_, err := m.rotate(ctx, false)
	return err
}

// RotateIfDue rotates when, in ModeX5C with a KeyRotation, the newest
// stored key has signed for KeyRotation, and reports whether it did. The
// check is made on the set as stored, so of replicas that all find the
// rotation due one rotates and the others take its key (ErrKeySetChanged
// is not returned for that race). Run calls it on every refresh.
func (m *Manager) RotateIfDue(ctx context.Context) (bool, error) {
	if m.cfg.Store == nil || m.cfg.Mode != ModeX5C || m.cfg.KeyRotation == 0 {
		return false, nil
	}
	rotated, err := m.rotate(ctx, true)
	if errors.Is(err, ErrKeySetChanged) {
		return false, nil
	}
	return rotated, err
}

func (m *Manager) rotate(ctx context.Context, onlyIfDue bool) (bool, error) {
	if m.cfg.Store == nil {
		return false, ErrStaticKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()

	// Read afresh: the swap must start from what is stored, not from what
	// this replica last saw.
	old, err := m.store.load(ctx)
	if errors.Is(err, errNoKeySet) {
		return false, m.load(ctx)
	}
	if err != nil {
		return false, fmt.Errorf("jwks: rotate: %w", err)
	}
	now := m.cfg.Now()
	keys := slices.DeleteFunc(slices.Clone(old.set.Keys), func(k storedKey) bool {
		return m.expired(k.RetireAfter, now)
	})
	if len(keys) == 0 {
		return false, errors.New("jwks: rotate: stored key set has no current key")
	}
	sortStored(keys)
	if last := keys[len(keys)-1]; last.ActivateAt.After(now) {
		return false, fmt.Errorf("jwks: rotate: %w: key %s signs from %s", ErrRotationPending, last.KID, last.ActivateAt.UTC().Format(time.RFC3339))
	} else if onlyIfDue && now.Before(last.ActivateAt.Add(m.cfg.KeyRotation)) {
		return false, m.install(old)
	}
	root, err := m.rootOf(old.set)
	if err != nil {
		return false, fmt.Errorf("jwks: rotate: %w", err)
	}

	next, err := m.newStoredKey(now, now.Add(m.cfg.RotationLead), root)
	if err != nil {
		return false, fmt.Errorf("jwks: rotate: %w", err)
	}
	prev := &keys[len(keys)-1]
	if prev.RetireAfter == nil || prev.RetireAfter.After(next.ActivateAt) {
		at := next.ActivateAt
		prev.RetireAfter = &at
	}
	keys = append(keys, next)

	cur, err := m.store.swap(ctx, old, storedSet{Version: storedSetVersion, Keys: keys, Root: old.set.Root})
	if errors.Is(err, ErrKeySetChanged) {
		// Use the set that won, as a refresh would.
		if lerr := m.load(ctx); lerr != nil {
			return false, fmt.Errorf("jwks: rotate: %w; %w", ErrKeySetChanged, lerr)
		}
		return false, fmt.Errorf("jwks: rotate: %w", ErrKeySetChanged)
	}
	if err != nil {
		return false, fmt.Errorf("jwks: rotate: %w", err)
	}
	m.log.Info("rotated signing key", "kid", next.KID, "alg", next.Alg,
		"activate_at", next.ActivateAt, "previous_kid", prev.KID, "scheduled", onlyIfDue)
	return true, m.install(cur)
}

// expired reports whether a key retired at retireAfter can be unpublished:
// every token it signed has expired, including those a replica signed
// before its next refresh told it of the successor.
func (m *Manager) expired(retireAfter *time.Time, now time.Time) bool {
	return retireAfter != nil && now.After(retireAfter.Add(m.cfg.MaxTokenLifetime+m.cfg.RefreshInterval))
}

// load reads the stored set, creating it when absent, and installs it.
// m.mu is held.
func (m *Manager) load(ctx context.Context) error {
	r, err := m.store.load(ctx)
	if errors.Is(err, errNoKeySet) {
		r, err = m.create(ctx)
	}
	if err != nil {
		return fmt.Errorf("jwks: %w", err)
	}
	return m.install(r)
}

// create stores a first key set, or answers the one another replica stored
// first. m.mu is held.
func (m *Manager) create(ctx context.Context) (revision, error) {
	now := m.cfg.Now()
	set := storedSet{Version: storedSetVersion}
	var root *material
	if m.cfg.Mode == ModeX5C {
		var err error
		if set.Root, root, err = m.newRoot(now); err != nil {
			return revision{}, fmt.Errorf("create key set: %w", err)
		}
	}
	k, err := m.newStoredKey(now, now, root)
	if err != nil {
		return revision{}, fmt.Errorf("create key set: %w", err)
	}
	set.Keys = []storedKey{k}
	r, created, err := m.store.create(ctx, set)
	if err != nil {
		return revision{}, err
	}
	if created {
		m.log.Info("created signing key", "kid", k.KID, "alg", k.Alg, "mode", m.cfg.Mode)
	}
	return r, nil
}

// install makes r the published set. m.mu is held.
func (m *Manager) install(r revision) error {
	if m.keys == nil || !r.same(m.current) {
		keys, root, err := m.decode(r.set)
		if err != nil {
			return err
		}
		if m.keys != nil {
			m.log.Info("signing key set changed", "keys", len(keys))
		}
		m.current, m.keys, m.root = r, keys, root
	}
	now := m.cfg.Now()
	published := make([]*signingKey, 0, len(m.keys))
	for _, k := range m.keys {
		var retire *time.Time
		if !k.retireAfter.IsZero() {
			retire = &k.retireAfter
		}
		if !m.expired(retire, now) {
			published = append(published, k)
		}
	}
	return m.publish(published)
}

// publish builds the exports of keys and swaps them in.
func (m *Manager) publish(keys []*signingKey) error {
	if len(keys) == 0 {
		return errors.New("jwks: key set has no key to sign with")
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	var certs, root []byte
	for _, k := range keys {
		set.Keys = append(set.Keys, k.jwk)
		certs = append(certs, encodeCert(k.cert)...)
	}
	if m.root != nil {
		// The registry trusts the root alone: the leaves come in x5c, so
		// a new one needs no change of its rootcertbundle.
		root = encodeCert(m.root.cert)
		certs = root
	}
	doc, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("jwks: encode key set: %w", err)
	}
	m.view.Store(&view{keys: keys, jwks: doc, certs: certs, root: root})
	return nil
}

func sortStored(keys []storedKey) {
	slices.SortStableFunc(keys, func(a, b storedKey) int { return a.ActivateAt.Compare(b.ActivateAt) })
}

// sealContext binds a sealed private key to its kid, so it can't be moved
// to another entry.
func sealContext(kid string) string { return "jwks signing key " + kid }

// newStoredKey generates a key of the configured algorithm and kid form,
// with a certificate that root issues (ModeX5C) or a self-signed one (root
// nil).
func (m *Manager) newStoredKey(now, activateAt time.Time, root *material) (storedKey, error) {
	k, err := generateKey(m.cfg.Alg, m.cfg.RSABits)
	if err != nil {
		return storedKey{}, err
	}
	kid, err := keyID(k.Public(), m.cfg.KidFormat)
	if err != nil {
		return storedKey{}, err
	}
	var cert *x509.Certificate
	if root != nil {
		cert, err = issueLeaf(k, kid, now, m.leafNotAfter(activateAt), root)
	} else {
		cert, err = selfSign(k, kid, now)
	}
	if err != nil {
		return storedKey{}, err
	}
	private, err := encodePrivateKey(k)
	if err != nil {
		return storedKey{}, err
	}
	sk := storedKey{
		KID: kid, Alg: m.cfg.Alg, Cert: string(encodeCert(cert)),
		CreatedAt:  now.UTC().Truncate(time.Second),
		ActivateAt: activateAt.UTC().Truncate(time.Second),
	}
	if m.cfg.Sealer != nil {
		if sk.SealedPrivateKey, err = m.cfg.Sealer.Seal(tokens.Secret(private), sealContext(kid)); err != nil {
			return storedKey{}, fmt.Errorf("seal private key: %w", err)
		}
	} else {
		sk.PrivateKey = string(private)
	}
	return sk, nil
}

// decode parses and checks the keys of a stored set, reusing keys parsed
// before.
func (m *Manager) decode(set storedSet) ([]*signingKey, *material, error) {
	if len(set.Keys) == 0 {
		return nil, nil, errors.New("jwks: stored key set is empty")
	}
	root, err := m.rootOf(set)
	if err != nil {
		return nil, nil, fmt.Errorf("jwks: %w", err)
	}
	stored := slices.Clone(set.Keys)
	sortStored(stored)
	parsed := make(map[string]*material, len(stored)+1)
	if root != nil {
		parsed[cacheKey(*set.Root)] = root
	}
	keys := make([]*signingKey, 0, len(stored))
	for _, sk := range stored {
		mat := m.parsed[cacheKey(sk)]
		if mat == nil {
			var err error
			if mat, err = m.parseStored(sk, sealContext(sk.KID)); err != nil {
				return nil, nil, fmt.Errorf("jwks: stored key %s: %w", sk.KID, err)
			}
		}
		if root != nil {
			if err := mat.cert.CheckSignatureFrom(root.cert); err != nil {
				return nil, nil, fmt.Errorf("jwks: stored key %s: certificate not issued by the root: %w", sk.KID, err)
			}
		}
		parsed[cacheKey(sk)] = mat
		k, err := m.newSigningKey(mat, sk.KID)
		if err != nil {
			return nil, nil, fmt.Errorf("jwks: stored key %s: %w", sk.KID, err)
		}
		k.createdAt, k.activateAt = sk.CreatedAt, sk.ActivateAt
		if sk.RetireAfter != nil {
			k.retireAfter = *sk.RetireAfter
		}
		keys = append(keys, k)
	}
	m.parsed = parsed
	return keys, root, nil
}

// cacheKey is what a parsed key is kept under between reloads.
func cacheKey(sk storedKey) string {
	return sk.PrivateKey + string(sk.SealedPrivateKey) + sk.Cert + sk.KID
}

func (m *Manager) parseStored(sk storedKey, sealCtx string) (*material, error) {
	private := []byte(sk.PrivateKey)
	if len(sk.SealedPrivateKey) > 0 {
		if m.cfg.Sealer == nil {
			return nil, errors.New("private key is sealed and no Sealer is configured")
		}
		s, err := m.cfg.Sealer.Open(sk.SealedPrivateKey, sealCtx)
		if err != nil {
			return nil, fmt.Errorf("open private key: %w", err)
		}
		private = []byte(s.Reveal())
	}
	k, _, err := parsePEM(private)
	if err != nil {
		return nil, err
	}
	alg, method, err := algOf(k)
	if err != nil {
		return nil, err
	}
	if alg != sk.Alg {
		return nil, fmt.Errorf("key signs %s, entry says %s", alg, sk.Alg)
	}
	if !knownKeyID(k.Public(), sk.KID) {
		return nil, errors.New("kid is not a key ID of its key")
	}
	cert, err := parseCertPEM([]byte(sk.Cert))
	if err != nil {
		return nil, err
	}
	if certFor(k.Public(), []*x509.Certificate{cert}) == nil {
		return nil, errors.New("certificate does not hold the key")
	}
	return &material{alg: alg, method: method, private: k, cert: cert}, nil
}

// newSigningKey prepares mat under kid: its JWK and the header of its
// tokens, which is the same for every token and so encoded once.
func (m *Manager) newSigningKey(mat *material, kid string) (*signingKey, error) {
	j, err := publicJWK(mat.private.Public(), mat.alg, kid)
	if err != nil {
		return nil, err
	}
	h := struct {
		Alg string   `json:"alg"`
		Kid string   `json:"kid"`
		Typ string   `json:"typ"`
		X5C []string `json:"x5c,omitempty"`
	}{Alg: mat.alg, Kid: kid, Typ: "JWT"}
	if m.cfg.X5C {
		// In ModeX5C the leaf alone: the registry holds the root.
		h.X5C = []string{base64.StdEncoding.EncodeToString(mat.cert.Raw)}
	}
	header, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	return &signingKey{material: mat, kid: kid, header: b64.EncodeToString(header), jwk: j}, nil
}

// loadFile installs the one key of Config.KeyFile.
func (m *Manager) loadFile() error {
	data, err := os.ReadFile(m.cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("jwks: read KeyFile: %w", err)
	}
	k, certs, err := parsePEM(data)
	if err != nil {
		return fmt.Errorf("jwks: KeyFile %s: %w", m.cfg.KeyFile, err)
	}
	alg, method, err := algOf(k)
	if err != nil {
		return fmt.Errorf("jwks: KeyFile %s: %w", m.cfg.KeyFile, err)
	}
	if m.cfg.Alg != "" && m.cfg.Alg != alg {
		return fmt.Errorf("jwks: KeyFile %s holds a %s key, Alg is %s", m.cfg.KeyFile, alg, m.cfg.Alg)
	}
	// For an EC key with a short coordinate this kid differs from RFC
	// 7638's and matches what distribution v3 computes from its
	// certificate, which is the verifier that matters.
	kid, err := keyID(k.Public(), m.cfg.KidFormat)
	if err != nil {
		return fmt.Errorf("jwks: KeyFile %s: %w", m.cfg.KeyFile, err)
	}
	now := m.cfg.Now()
	cert := certFor(k.Public(), certs)
	if cert == nil {
		if cert, err = selfSign(k, kid, now); err != nil {
			return fmt.Errorf("jwks: KeyFile %s: %w", m.cfg.KeyFile, err)
		}
		m.log.Warn("key file has no certificate: generated one that lasts as long as this process; keep one in the file so replicas agree",
			"key_file", m.cfg.KeyFile, "kid", kid)
	}
	sk, err := m.newSigningKey(&material{alg: alg, method: method, private: k, cert: cert}, kid)
	if err != nil {
		return fmt.Errorf("jwks: KeyFile %s: %w", m.cfg.KeyFile, err)
	}
	sk.createdAt = now
	m.keys = []*signingKey{sk}
	return m.publish(m.keys)
}
