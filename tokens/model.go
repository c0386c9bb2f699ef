package tokens

import (
	"slices"
	"time"
)

// Access levels of a project member, as GitLab numbers them.
const (
	Guest      AccessLevel = 10
	Reporter   AccessLevel = 20
	Developer  AccessLevel = 30
	Maintainer AccessLevel = 40
	Owner      AccessLevel = 50
)

// AccessLevel is a member's role in a project.
type AccessLevel int

// Valid reports whether l is one of the five GitLab access levels.
func (l AccessLevel) Valid() bool {
	switch l {
	case Guest, Reporter, Developer, Maintainer, Owner:
		return true
	}
	return false
}

// Visibility of a project.
type Visibility string

// Visibility values, as GitLab names them.
const (
	Private  Visibility = "private"
	Internal Visibility = "internal"
	Public   Visibility = "public"
)

// Valid reports whether v is a known visibility.
func (v Visibility) Valid() bool { return v == Private || v == Internal || v == Public }

// User is an account that signs in with personal access tokens.
type User struct {
	ID        int64     `json:"id"`
	Username  string    `json:"username"`
	Name      string    `json:"name"`
	Admin     bool      `json:"admin"`
	CreatedAt time.Time `json:"created_at"`
	// Blocked users' personal access tokens are refused everywhere; the
	// deploy tokens they created keep working, as in GitLab.
	Blocked bool `json:"blocked"`
}

// Scopes of personal access tokens.
const (
	ScopeAPI             = "api"
	ScopeReadAPI         = "read_api"
	ScopeReadRepository  = "read_repository"
	ScopeWriteRepository = "write_repository"
	ScopeReadRegistry    = "read_registry"
	ScopeWriteRegistry   = "write_registry"
)

// PATScopes are the scopes a personal access token may carry.
var PATScopes = []string{ScopeAPI, ScopeReadAPI, ScopeReadRepository, ScopeWriteRepository, ScopeReadRegistry, ScopeWriteRegistry}

// DeployTokenScopes are the scopes a deploy token may carry.
var DeployTokenScopes = []string{ScopeReadRepository, ScopeReadRegistry, ScopeWriteRegistry}

// CITokenName is the name that makes a deploy token the project's CI token.
const CITokenName = "gitlab-deploy-token"

// PersonalAccessToken lets a user call the API, push code and push images.
// Only the keyed digest of its secret is stored.
type PersonalAccessToken struct {
	ID         int64      `json:"id"`
	UserID     int64      `json:"user_id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	ExpiresAt  *time.Time `json:"expires_at"`
	Revoked    bool       `json:"revoked"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	Digest     []byte     `json:"digest"`
	// LastUsedIP and LastUsedAgent are the client address and user agent
	// of the use recorded at LastUsedAt.
	LastUsedIP    string `json:"last_used_ip,omitempty"`
	LastUsedAgent string `json:"last_used_agent,omitempty"`
	// PreviousID is the token this one was rotated from while that one's
	// grace lasts (it is revoked with this one, or at the next rotation);
	// 0 when none.
	PreviousID int64 `json:"previous_id,omitempty"`
	// ReplacedBy is the token a rotation with a grace replaced this one
	// with: it works until its grace ends (its ExpiresAt) but can't be
	// rotated again, so a token never has two successors.
	ReplacedBy int64 `json:"replaced_by,omitempty"`
}

// Active reports whether the token may be used at now.
func (t *PersonalAccessToken) Active(now time.Time) bool {
	return !t.Revoked && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt))
}

// HasScope reports whether the token carries one of scopes.
func (t *PersonalAccessToken) HasScope(scopes ...string) bool { return hasAny(t.Scopes, scopes) }

// Project owns a git repository and a registry namespace.
type Project struct {
	ID   int64  `json:"id"`
	Path string `json:"path"`
	// Name is what people call the project; "" (a project stored before
	// it had one) reads as Path.
	Name              string     `json:"name"`
	PathWithNamespace string     `json:"path_with_namespace"`
	Visibility        Visibility `json:"visibility"`
	CreatorID         int64      `json:"creator_id"`
	CreatedAt         time.Time  `json:"created_at"`
	// NamespaceID is the group that holds the project; 0 for a user's
	// personal namespace, and for projects stored before groups existed.
	NamespaceID int64 `json:"namespace_id"`
}

// Member is a user's access to a project.
type Member struct {
	ProjectID   int64       `json:"project_id"`
	UserID      int64       `json:"user_id"`
	AccessLevel AccessLevel `json:"access_level"`
	CreatedAt   time.Time   `json:"created_at"`
}

// DeployToken gives read access to one project's repository or registry
// without a user account, or, as a group deploy token, to those of every
// project in a group's subtree. Only the keyed digest of its secret is stored; the
// CI token also keeps its secret encrypted (CISecret) so CI can be handed it.
type DeployToken struct {
	ID         int64      `json:"id"`
	ProjectID  int64      `json:"project_id"`
	Name       string     `json:"name"`
	Username   string     `json:"username"`
	Scopes     []string   `json:"scopes"`
	ExpiresAt  *time.Time `json:"expires_at"`
	Revoked    bool       `json:"revoked"`
	CreatedAt  time.Time  `json:"created_at"`
	CreatorID  int64      `json:"creator_id"`
	LastUsedAt *time.Time `json:"last_used_at"`
	Digest     []byte     `json:"digest"`
	CISecret   []byte     `json:"ci_secret,omitempty"`
	// GroupID is the group of a group deploy token, whose ProjectID is 0;
	// exactly one of ProjectID and GroupID is non-zero.
	GroupID int64 `json:"group_id,omitempty"`
	// LastUsedIP and LastUsedAgent are the client address and user agent
	// of the use recorded at LastUsedAt (by either secret).
	LastUsedIP    string `json:"last_used_ip,omitempty"`
	LastUsedAgent string `json:"last_used_agent,omitempty"`
	// Rotation: see rotate.go.
	Rotation
}

// Expired reports whether the token's expiry has passed at now.
func (t *DeployToken) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}

// Active reports whether the token may be used at now.
func (t *DeployToken) Active(now time.Time) bool { return !t.Revoked && !t.Expired(now) }

// HasScope reports whether the token carries one of scopes.
func (t *DeployToken) HasScope(scopes ...string) bool { return hasAny(t.Scopes, scopes) }

// IsCIToken reports whether this is the project's CI token, whose
// read_registry scope is implied.
func (t *DeployToken) IsCIToken() bool { return t.Name == CITokenName }

func hasAny(have, want []string) bool {
	for _, w := range want {
		if slices.Contains(have, w) {
			return true
		}
	}
	return false
}
