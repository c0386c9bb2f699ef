package tokens

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors every Store returns (wrapped with %w and the operation).
var (
	// ErrNotFound means the record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a unique field is taken, or a compare-and-swap lost.
	ErrConflict = errors.New("already exists")
	// ErrUnavailable means the store could not be reached; callers answer 503.
	ErrUnavailable = errors.New("store unavailable")
	// ErrLastOwner means a write would leave a project without an owner.
	ErrLastOwner = errors.New("a project needs at least one owner")
	// ErrNested means a project's path would sit inside another project's
	// path, or hold one inside its own.
	ErrNested = errors.New("nested with another project")
	// ErrNotEmpty means a group still holds subgroups or projects.
	ErrNotEmpty = errors.New("not empty")
)

// DefaultDeployTokenUsername is the username a deploy token gets when its
// creator does not choose one.
func DefaultDeployTokenUsername(id int64) string {
	return fmt.Sprintf("gitlab+deploy-token-%d", id)
}

// Store keeps every record of deploytokens. Implementations: redisstore
// (shared by replicas) and boltstore (embedded, single node). Every write is
// durable when the call returns. Lookups by name are case-insensitive where
// GitLab's are (usernames, project paths); records keep the case they were
// created with.
type Store interface {
	Users
	PersonalAccessTokens
	Projects
	Members
	DeployTokens
	ExpiryIndex
	PATAuthStore
	Rotations
	LastUses
	Admin
	Groups
	ProjectNamespaces
	Pages
	ProjectPages
	TokenUsernames
	ActiveTokenPages
	DeadPathStore
	AuditStore
	HookStore
	KV
	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// Users stores user accounts.
type Users interface {
	// CreateUser assigns u.ID and stores u; ErrConflict when the username
	// is taken, or is a top-level group's path (without regard to case).
	CreateUser(ctx context.Context, u *User) error
	User(ctx context.Context, id int64) (User, error)
	UserByUsername(ctx context.Context, username string) (User, error)
}

// PersonalAccessTokens stores users' tokens, found by the digest of their
// secret.
type PersonalAccessTokens interface {
	// CreatePAT assigns t.ID and stores t with its digest index;
	// ErrNotFound when the user does not exist.
	CreatePAT(ctx context.Context, t *PersonalAccessToken) error
	// PATByDigest finds a token and its user in one round trip.
	PATByDigest(ctx context.Context, digest []byte) (PersonalAccessToken, User, error)
	// TouchPAT sets LastUsedAt.
	TouchPAT(ctx context.Context, id int64, at time.Time) error
	// PAT answers a token by id; ErrNotFound when there is none.
	PAT(ctx context.Context, id int64) (PersonalAccessToken, error)
	// RevokePAT marks a token revoked for good; ErrNotFound when there is
	// none. Revoking a revoked token is not an error.
	RevokePAT(ctx context.Context, id int64) error
}

// Projects stores projects.
type Projects interface {
	// CreateProject assigns p.ID and stores p together with owner (whose
	// ProjectID it sets) in one transaction; ErrConflict when the path is
	// taken, ErrNested when another project's path holds it or sits inside
	// it (both without regard to case). ErrConflict too when the path is a
	// group's full path, ErrNested when a group's full path sits inside
	// it. With p.NamespaceID set, ErrNotFound unless that group exists
	// and its full path is the namespace of p's path (all checked in the
	// same atomic step as the write, so a group deleted at once can't be
	// left holding it). ErrReserved when a deleted project's reservation
	// Covers the path (in the same atomic step: see DeadPathStore).
	CreateProject(ctx context.Context, p *Project, owner Member) error
	Project(ctx context.Context, id int64) (Project, error)
	ProjectByPath(ctx context.Context, pathWithNamespace string) (Project, error)
	// ProjectsByPaths looks up many paths as ProjectByPath does, in one
	// step (one round trip, one transaction): a registry token request
	// asks for the owners of many image names at once, and a lookup per
	// name would let one request cost hundreds. The answer maps each path
	// as given that is a project's (in any case) to that project; a path
	// that is none is absent, not an error.
	ProjectsByPaths(ctx context.Context, paths []string) (map[string]Project, error)
	// ListProjects answers every project, ordered by ID.
	ListProjects(ctx context.Context) ([]Project, error)
	// DeleteProject removes a project with its members and deploy tokens,
	// so those tokens stop working at once.
	DeleteProject(ctx context.Context, id int64) error
}

// Members stores who may do what in a project.
type Members interface {
	// PutMember creates or updates m; ErrNotFound when the project or the
	// user does not exist, ErrLastOwner when it would demote the project's
	// only owner (checked in the same atomic step as the write, so two
	// owners demoting each other at once can't both succeed).
	PutMember(ctx context.Context, m Member) error
	Member(ctx context.Context, projectID, userID int64) (Member, error)
	// ListMembers answers a project's members ordered by user ID.
	ListMembers(ctx context.Context, projectID int64) ([]Member, error)
	// MembershipsOf answers a user's memberships ordered by project ID.
	MembershipsOf(ctx context.Context, userID int64) ([]Member, error)
	// DeleteMember removes a member; ErrNotFound when there is none,
	// ErrLastOwner when it is the project's only owner (atomically, as for
	// PutMember).
	DeleteMember(ctx context.Context, projectID, userID int64) error
}

// DeployTokens stores deploy tokens, found by the digest of their secret.
// Revoked tokens are kept.
type DeployTokens interface {
	// CreateDeployToken assigns t.ID, sets t.Username to
	// DefaultDeployTokenUsername(t.ID) when empty, and stores t with its
	// digest index; ErrNotFound when the project (or, for a group deploy
	// token, the group) does not exist. Exactly one of t.ProjectID and
	// t.GroupID is non-zero.
	CreateDeployToken(ctx context.Context, t *DeployToken) error
	DeployToken(ctx context.Context, projectID, id int64) (DeployToken, error)
	// ListDeployTokens answers a project's tokens ordered by ID.
	ListDeployTokens(ctx context.Context, projectID int64) ([]DeployToken, error)
	// ListAllDeployTokens answers every token, of projects and of groups,
	// ordered by ID.
	ListAllDeployTokens(ctx context.Context) ([]DeployToken, error)
	// RevokeDeployToken marks the token revoked; the record stays.
	RevokeDeployToken(ctx context.Context, projectID, id int64) error
	// DeployTokenByDigest finds a token and its project in one round trip;
	// ErrNotFound when either is gone. A group deploy token is answered
	// with a zero Project while its group exists.
	DeployTokenByDigest(ctx context.Context, digest []byte) (DeployToken, Project, error)
	// TouchDeployToken sets LastUsedAt.
	TouchDeployToken(ctx context.Context, id int64, at time.Time) error
	// DeployTokenForAuth reads what authenticating a deploy token needs,
	// in one step (one round trip, one transaction): the token q.Digest
	// finds with its project, as DeployTokenByDigest answers them, and
	// the ban of q.Addr, as Get(BanKey(q.Addr)) answers it (none read when
	// q.Addr is ""). Every pull of every image layer authenticates a
	// deploy token, so this is the busiest read of all. Not finding the
	// token is an answer (Found false), not an error: the ban still
	// decides first. An error means the store could not answer, and then
	// neither half is known.
	DeployTokenForAuth(ctx context.Context, q DeployTokenQuery) (DeployTokenAuth, error)
}

// DeployTokenQuery is what a client presented with a deploy token.
type DeployTokenQuery struct {
	// Digest is the keyed digest of the secret.
	Digest []byte
	// Username is the one the client sent. Stores read the token whatever
	// it is; a store that answers from memory (package tokens/cache) does
	// so only for a token with this username, so that a refusal for the
	// wrong username takes as long as one for a guessed secret.
	Username string
	// Addr is the client address whose ban is read; "" reads none.
	Addr string
}

// DeployTokenAuth is what DeployTokenForAuth answers.
type DeployTokenAuth struct {
	// Banned reports whether the address has a ban (a live value at
	// BanKey(Addr)); Ban is its value, which package auth interprets.
	Banned bool
	Ban    []byte
	// Found reports whether the digest is a deploy token's whose project
	// (or group) exists; Token and Project are set only then. A revoked
	// or expired token is found: deciding what it may do is the caller's
	// business.
	Found   bool
	Token   DeployToken
	Project Project
	// Group is a group deploy token's group, when Found; Project is zero
	// then.
	Group Group
}

// KV is a small key/value space for what is not a domain record: the server
// secret's check value, signing keys, sessions, refresh tokens and failure
// counters. A ttl of 0 means no expiry; an expired key reads as absent.
type KV interface {
	// Get answers the value, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Create stores value only when key is absent; ErrConflict otherwise.
	Create(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// CompareAndSwap replaces old with value (keeping no ttl); old == nil
	// means key must be absent. ErrConflict when the current value differs.
	CompareAndSwap(ctx context.Context, key string, old, value []byte) error
	// Delete removes key; deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// Take answers the value and removes key in one step, so of concurrent
	// takes of one key exactly one gets the value; ErrNotFound when absent.
	Take(ctx context.Context, key string) ([]byte, error)
	// Incr adds one to the counter at key and answers the new count; a
	// counter created by this call expires after ttl.
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
	// Renew answers the value and lets key live ttl from now; ErrNotFound
	// when absent. A key with at least ttl - ttl/30 left (or no expiry) is
	// left as it is, so a key read all the time is written about 30 times
	// per ttl, not at every read.
	Renew(ctx context.Context, key string, ttl time.Duration) ([]byte, error)
	// Strike counts one failure and decides on it in one atomic step, so
	// that of N concurrent strikes against one limit exactly the ones
	// past it see a count past it: it adds one to the counter at
	// q.Counter (a counter it creates expires after q.Window) and, when
	// the new count reaches q.Limit and q.Ban holds no live value, stores
	// q.Value at q.Ban for q.BanTTL (0: no expiry).
	Strike(ctx context.Context, q Strike) (Struck, error)
}

// Strike is what KV.Strike counts and the ban it may impose.
type Strike struct {
	Counter string
	Window  time.Duration
	Limit   int64
	Ban     string
	Value   []byte
	BanTTL  time.Duration
}

// Struck is what KV.Strike answers.
type Struck struct {
	// Count is the counter after the strike.
	Count int64
	// Banned reports that q.Ban held a live value before the strike; Ban
	// is that value.
	Banned bool
	Ban    []byte
	// Created reports that this strike stored the ban.
	Created bool
}
