package tokens

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// FederatedIdentity is a trust policy on a deploy token: a workload that
// presents an OIDC token from Issuer, for Audience, whose claims meet every
// condition, acts as the token without knowing its secret (keyless CI and
// clusters).
type FederatedIdentity struct {
	ID        int64  `json:"id"`
	TokenID   int64  `json:"token_id"`
	ProjectID int64  `json:"project_id,omitempty"`
	GroupID   int64  `json:"group_id,omitempty"`
	Issuer    string `json:"issuer"`
	Audience  string `json:"audience"`
	// Claims maps a claim name to the value it must have: exact, or a
	// glob where * matches any run of characters.
	Claims    map[string]string `json:"claims"`
	CreatedAt time.Time         `json:"created_at"`
	CreatorID int64             `json:"creator_id"`
}

// FederatedIdentityInput is what a caller gives to create a policy.
type FederatedIdentityInput struct {
	Issuer   string
	Audience string
	Claims   map[string]string
}

// SubjectClaims are the claims that name whose workload a token is: a
// policy must constrain one of them, or any workload of the issuer (every
// GitHub repository, every pod of the cluster) would qualify. sub is the
// standard one; the others are what GitHub Actions and GitLab CI put in
// their tokens for the repository or project a job runs in.
var SubjectClaims = []string{"sub", "repository", "repository_id", "repository_owner", "repository_owner_id",
	"project_path", "project_id", "namespace_path", "namespace_id"}

// Limits on policies: small enough that a token's document stays one small
// value, large enough for every branch and environment a project trusts.
const (
	MaxIdentitiesPerToken = 20
	maxIdentitiesPerName  = 100
	maxClaimConditions    = 16
	maxClaimValueLen      = 512
	maxAudienceLen        = 255
)

// claimNameRe is what a claim name may be: GitHub's and GitLab's are
// snake_case, Kubernetes' are dotted URLs; nothing with spaces or quotes.
var claimNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.:/-]{0,99}$`)

// verifiedClaims are checked by the verifier against the policy's issuer
// and audience and the clock; a condition on them would be a mistake.
var verifiedClaims = []string{"iss", "aud", "exp", "nbf", "iat", "jti"}

// ValidateFederatedIdentity checks in against the allowed issuers and
// answers every problem, each naming its field.
func ValidateFederatedIdentity(in FederatedIdentityInput, issuers []string) []error {
	var errs []error
	switch {
	case in.Issuer == "":
		errs = append(errs, Invalid("issuer", "is missing"))
	case len(issuers) == 0:
		errs = append(errs, Invalid("issuer", "is not allowed: the administrator allows no OIDC issuer (DEPLOYTOKENS_OIDC_ISSUERS)"))
	case !slices.Contains(issuers, in.Issuer):
		errs = append(errs, Invalid("issuer", "is not one of the OIDC issuers the administrator allows (DEPLOYTOKENS_OIDC_ISSUERS)"))
	}
	switch {
	case in.Audience == "":
		errs = append(errs, Invalid("audience", "is missing"))
	case len(in.Audience) > maxAudienceLen:
		errs = append(errs, Invalid("audience", "is too long (maximum is %d characters)", maxAudienceLen))
	case strings.IndexFunc(in.Audience, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		errs = append(errs, Invalid("audience", "must not contain spaces or control characters"))
	case strings.Contains(in.Audience, "*"):
		errs = append(errs, Invalid("audience", "must be exact, not a glob"))
	}
	if len(in.Claims) == 0 {
		return append(errs, Invalid("claims", "must name at least one claim condition, one of them on a subject claim (%s)", strings.Join(SubjectClaims, ", ")))
	}
	if len(in.Claims) > maxClaimConditions {
		return append(errs, Invalid("claims", "has more than %d conditions", maxClaimConditions))
	}
	subject := false
	for _, name := range sortedKeys(in.Claims) {
		v, field := in.Claims[name], "claims["+name+"]"
		switch {
		case !claimNameRe.MatchString(name):
			errs = append(errs, Invalid("claims", "has a claim name %q that is not a claim name (letters, digits, _ . : / -)", name))
			continue
		case slices.Contains(verifiedClaims, name):
			errs = append(errs, Invalid(field, "cannot be a condition: the issuer, audience and times are verified on their own"))
			continue
		case v == "":
			errs = append(errs, Invalid(field, "is empty"))
			continue
		case len(v) > maxClaimValueLen:
			errs = append(errs, Invalid(field, "is too long (maximum is %d characters)", maxClaimValueLen))
			continue
		case strings.IndexFunc(v, unicode.IsControl) >= 0:
			errs = append(errs, Invalid(field, "must not contain control characters"))
			continue
		case strings.Trim(v, "*") == "":
			errs = append(errs, Invalid(field, "is a glob that matches everything; name a value"))
			continue
		}
		if slices.Contains(SubjectClaims, name) {
			// The literal part must name something: spaces or invisible
			// characters before the * name nothing.
			lit, _, _ := strings.Cut(v, "*")
			if strings.IndexFunc(lit, func(r rune) bool { return unicode.IsGraphic(r) && !unicode.IsSpace(r) && !unicode.Is(unicode.Cf, r) }) < 0 {
				errs = append(errs, Invalid(field, "must start with a literal part, not *: a subject claim says whose workload it is"))
				continue
			}
			subject = true
		}
	}
	if !subject && len(errs) == 0 {
		errs = append(errs, Invalid("claims", "must constrain a subject claim (%s); without one, every workload of the issuer would qualify", strings.Join(SubjectClaims, ", ")))
	}
	return errs
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// MatchClaims reports whether claims (a verified token's, as decoded from
// JSON) meet every condition of f, and answers the claims that matched.
func (f *FederatedIdentity) MatchClaims(claims map[string]any) ([]string, bool) {
	matched := make([]string, 0, len(f.Claims))
	for _, name := range sortedKeys(f.Claims) {
		if !claimMatches(claims[name], f.Claims[name]) {
			return nil, false
		}
		matched = append(matched, name)
	}
	return matched, true
}

// claimMatches compares a claim's value with a condition. Strings, booleans
// (GitLab's ref_protected is "true" as a string, others write true) and
// numbers compare as their text; an array matches when one element does.
func claimMatches(v any, pattern string) bool {
	switch v := v.(type) {
	case string:
		return GlobMatch(pattern, v)
	case bool:
		return GlobMatch(pattern, strconv.FormatBool(v))
	case float64:
		return GlobMatch(pattern, strconv.FormatFloat(v, 'f', -1, 64))
	case json.Number:
		return GlobMatch(pattern, v.String())
	case []any:
		return slices.ContainsFunc(v, func(e any) bool {
			_, isList := e.([]any)
			return !isList && claimMatches(e, pattern)
		})
	}
	return false
}

// GlobMatch reports whether s matches pattern, where * matches any run of
// characters, / included, and every other character itself. Written here
// because path.Match and filepath.Match stop * at a slash and give meaning
// to ?, [ and \, which appear in real claim values (refs, paths).
func GlobMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

// FederationKey is the KV key of the policies of deploy tokens named
// username (hex, so any username is one key segment).
func FederationKey(username string) string {
	return federationPrefix + hex.EncodeToString([]byte(username))
}

// identityDoc is what FederationKey holds. Policies live in the KV, as the
// signing key set does, written by compare-and-swap: both stores already
// pass the KV's one conformance suite, and a deploy token's policies are
// read whole, by the username the exchange is given.
type identityDoc struct {
	Identities []FederatedIdentity `json:"identities"`
}

// FederatedIdentitiesByUsername answers the policies of every deploy token
// named username (none is not an error).
func FederatedIdentitiesByUsername(ctx context.Context, kv KV, username string) ([]FederatedIdentity, error) {
	doc, _, err := readIdentities(ctx, kv, username)
	return doc.Identities, err
}

func readIdentities(ctx context.Context, kv KV, username string) (identityDoc, []byte, error) {
	raw, err := kv.Get(ctx, FederationKey(username))
	if errors.Is(err, ErrNotFound) {
		return identityDoc{}, nil, nil
	}
	if err != nil {
		return identityDoc{}, nil, fmt.Errorf("read federated identities: %w", err)
	}
	var doc identityDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return identityDoc{}, nil, fmt.Errorf("decode federated identities: %w", err)
	}
	return doc, raw, nil
}

// updateIdentities applies change to the policies of username with a
// compare-and-swap, retrying when another writer won.
func updateIdentities(ctx context.Context, kv KV, username string, change func(*identityDoc) error) error {
	for range 10 {
		doc, old, err := readIdentities(ctx, kv, username)
		if err != nil {
			return err
		}
		if err := change(&doc); err != nil {
			return err
		}
		raw, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		err = kv.CompareAndSwap(ctx, FederationKey(username), old, raw)
		if !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return &Error{Kind: KindConflict, Message: "the deploy token's federated identities changed concurrently; try again"}
}

// ErrIdentityNotFound is a policy that does not exist on the token.
var ErrIdentityNotFound = &Error{Kind: KindNotFound, Subject: "Federated Identity"}

// ownedBy reports whether f is a policy of t.
func (f *FederatedIdentity) ownedBy(t *DeployToken) bool {
	return f.TokenID == t.ID && f.ProjectID == t.ProjectID && f.GroupID == t.GroupID
}

// tokenFor answers the deploy token a policy operation is on: a project's
// (group false) or a group's, with the Maintainer access managing its
// deploy tokens takes.
func (s *Service) tokenFor(ctx context.Context, a *Actor, group bool, ref string, id int64) (DeployToken, error) {
	if group {
		return s.GroupDeployToken(ctx, a, ref, id)
	}
	return s.DeployToken(ctx, a, ref, id)
}

// CreateFederatedIdentity adds a policy to a project's (group false) or a
// group's deploy token. A revoked or expired token takes none: it would
// never be used.
func (s *Service) CreateFederatedIdentity(ctx context.Context, a *Actor, group bool, ref string, tokenID int64, in FederatedIdentityInput) (FederatedIdentity, error) {
	t, err := s.tokenFor(ctx, a, group, ref, tokenID)
	if err != nil {
		return FederatedIdentity{}, err
	}
	if errs := ValidateFederatedIdentity(in, s.OIDCIssuers); len(errs) > 0 {
		return FederatedIdentity{}, errs[0]
	}
	if !t.Active(s.Clock()) {
		return FederatedIdentity{}, Invalid("token_id", "is a revoked or expired deploy token")
	}
	id, err := s.Store.Incr(ctx, federationSeqKey, 0)
	if err != nil {
		return FederatedIdentity{}, fmt.Errorf("number federated identity: %w", err)
	}
	f := FederatedIdentity{ID: id, TokenID: t.ID, ProjectID: t.ProjectID, GroupID: t.GroupID,
		Issuer: in.Issuer, Audience: in.Audience, Claims: in.Claims, CreatedAt: s.Clock(), CreatorID: a.User.ID}
	err = updateIdentities(ctx, s.Store, t.Username, func(doc *identityDoc) error {
		if err := s.pruneIdentities(ctx, doc, &t); err != nil {
			return err
		}
		n := 0
		for _, g := range doc.Identities {
			if g.ownedBy(&t) {
				n++
			}
		}
		if n >= MaxIdentitiesPerToken {
			return Invalid("token_id", "already has %d federated identities, the most a deploy token may have", MaxIdentitiesPerToken)
		}
		if len(doc.Identities) >= maxIdentitiesPerName {
			// Live tokens of other projects may hold them: say nothing
			// of those, only what to do.
			return Invalid("token_id", "has a username with too many federated identities on this server; give the deploy token a username of its own")
		}
		doc.Identities = append(doc.Identities, f)
		return nil
	})
	if err != nil {
		return FederatedIdentity{}, err
	}
	s.log().InfoContext(ctx, "federated identity created", "token_id", t.ID, "identity_id", f.ID, "issuer", f.Issuer, "by", a.User.Username)
	s.record(ctx, identityEvent(EventFederatedIdentityCreated, a, &t, f))
	return f, nil
}

// pruneIdentities drops from doc the policies of deploy tokens other than
// t that are revoked, expired or gone: they admit nobody, and left in
// place they would count against the username's cap for good, so that a
// maintainer of one project could fill it with tokens they then revoke
// and keep another project's token of that username from any policy.
func (s *Service) pruneIdentities(ctx context.Context, doc *identityDoc, t *DeployToken) error {
	type owner struct{ project, group, token int64 }
	live := map[owner]bool{}
	now := s.Clock()
	kept := doc.Identities[:0]
	for _, f := range doc.Identities {
		o := owner{f.ProjectID, f.GroupID, f.TokenID}
		alive, seen := live[o]
		if !seen {
			alive = f.ownedBy(t)
			if !alive {
				var (
					other DeployToken
					err   error
				)
				if f.GroupID != 0 {
					other, err = s.Store.GroupDeployToken(ctx, f.GroupID, f.TokenID)
				} else {
					other, err = s.Store.DeployToken(ctx, f.ProjectID, f.TokenID)
				}
				switch {
				case err == nil:
					alive = other.Active(now)
				case !errors.Is(err, ErrNotFound):
					return err
				}
			}
			live[o] = alive
		}
		if alive {
			kept = append(kept, f)
		}
	}
	doc.Identities = kept
	return nil
}

// ListFederatedIdentities answers a deploy token's policies ordered by id.
func (s *Service) ListFederatedIdentities(ctx context.Context, a *Actor, group bool, ref string, tokenID int64) ([]FederatedIdentity, error) {
	t, err := s.tokenFor(ctx, a, group, ref, tokenID)
	if err != nil {
		return nil, err
	}
	all, err := FederatedIdentitiesByUsername(ctx, s.Store, t.Username)
	if err != nil {
		return nil, err
	}
	out := []FederatedIdentity{}
	for _, f := range all {
		if f.ownedBy(&t) {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(x, y FederatedIdentity) int { return int(x.ID - y.ID) })
	return out, nil
}

// FederatedIdentity answers one policy of a deploy token.
func (s *Service) FederatedIdentity(ctx context.Context, a *Actor, group bool, ref string, tokenID, id int64) (FederatedIdentity, error) {
	all, err := s.ListFederatedIdentities(ctx, a, group, ref, tokenID)
	if err != nil {
		return FederatedIdentity{}, err
	}
	for _, f := range all {
		if f.ID == id {
			return f, nil
		}
	}
	return FederatedIdentity{}, ErrIdentityNotFound
}

// DeleteFederatedIdentity removes a policy; tokens it admitted are refused
// from the next exchange on.
func (s *Service) DeleteFederatedIdentity(ctx context.Context, a *Actor, group bool, ref string, tokenID, id int64) error {
	t, err := s.tokenFor(ctx, a, group, ref, tokenID)
	if err != nil {
		return err
	}
	err = updateIdentities(ctx, s.Store, t.Username, func(doc *identityDoc) error {
		i := slices.IndexFunc(doc.Identities, func(f FederatedIdentity) bool { return f.ID == id && f.ownedBy(&t) })
		if i < 0 {
			return ErrIdentityNotFound
		}
		doc.Identities = slices.Delete(doc.Identities, i, i+1)
		return nil
	})
	if err == nil {
		s.log().InfoContext(ctx, "federated identity deleted", "token_id", t.ID, "identity_id", id, "by", a.User.Username)
		s.record(ctx, identityEvent(EventFederatedIdentityDestroyed, a, &t, FederatedIdentity{ID: id}))
	}
	return err
}
