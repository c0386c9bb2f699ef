package tokens

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Repositories creates and removes a project's git repository; the service
// keeps them in step with projects.
type Repositories interface {
	Create(ctx context.Context, projectPath string) error
	Remove(projectPath string) error
}

// Service applies the rules of managing users, projects, members and deploy
// tokens over a Store.
type Service struct {
	Store Store
	Keys  *Keys
	// Repos, when set, holds a repository per project.
	Repos Repositories
	// Images, when set, deletes a deleted project's images from the
	// registry; without it the project's path stays reserved.
	Images Images
	Now    func() time.Time
	Logger *slog.Logger
	// NoTopLevelGroups keeps the creation of top-level groups (and so of
	// new top-level namespaces) to admins.
	NoTopLevelGroups bool
	// RegistryTokenLifetime is how long the registry tokens the server
	// issues stay valid: a deleted project's path stays reserved that long
	// after the delete (and its images are deleted once more), so a token
	// its members got before can't push into the next owner's path.
	RegistryTokenLifetime time.Duration
	// RotationMaxGrace bounds the grace a rotation may give the secret it
	// replaces (0: no bound).
	RotationMaxGrace time.Duration
	// AllowPrivateHooks lets webhooks point at loopback and private
	// addresses.
	AllowPrivateHooks bool
	// OIDCIssuers are the issuers whose tokens deploy tokens' federated
	// identities may trust (DEPLOYTOKENS_OIDC_ISSUERS); none disables them.
	OIDCIssuers []string
}

// Actor is the authenticated caller of a management operation.
type Actor struct {
	User User
	// Scopes of the credential used; management needs api, reads read_api.
	Scopes []string
	// PAT is the personal access token used, when the caller knows it; the
	// configured admin token has ID 0.
	PAT *PersonalAccessToken
	// From is the client address the request came from, for audit lines;
	// "" when unknown.
	From string
}

// Clock answers the current time in UTC, from Now when set.
func (s *Service) Clock() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// CreatedSecret is a new token with its one-time plaintext.
type CreatedSecret struct {
	Secret Secret
}

// AccessLevel answers what u may do in p: 0 for nothing, Owner for admins,
// otherwise the highest of u's membership of p and of the groups along p's
// path (a group member has at least that level on everything below).
func (s *Service) AccessLevel(ctx context.Context, u *User, p *Project) (AccessLevel, error) {
	if u == nil {
		return 0, nil
	}
	if u.Admin {
		return Owner, nil
	}
	var level AccessLevel
	m, err := s.Store.Member(ctx, p.ID, u.ID)
	switch {
	case err == nil:
		level = m.AccessLevel
	case !errors.Is(err, ErrNotFound):
		return 0, err
	}
	if p.NamespaceID == 0 {
		// A project no group holds (a personal one, or one stored before
		// groups existed) inherits nothing, even when a group was created
		// later at its namespace's path: that group's members never had a
		// say over it.
		return level, nil
	}
	inherited, err := s.inheritedLevel(ctx, u, p.PathWithNamespace)
	return max(level, inherited), err
}

// GroupAccessLevel answers what u may do in g: 0 for nothing, Owner for
// admins, otherwise the highest of u's memberships of g and of the groups
// above it.
func (s *Service) GroupAccessLevel(ctx context.Context, u *User, g *Group) (AccessLevel, error) {
	if u == nil {
		return 0, nil
	}
	if u.Admin {
		return Owner, nil
	}
	return s.inheritedLevel(ctx, u, g.FullPath)
}

// inheritedLevel is u's highest membership among the groups along path
// (path itself included when it is a group's), in two round trips
// whatever the depth: u's group memberships, and the groups along path.
// For a project, the caller checks it is held by a group (NamespaceID):
// the store then guarantees the groups along its path are that group and
// its ancestors, since a group's parent is checked when it is created and
// a group holding a project or subgroup can't be deleted.
func (s *Service) inheritedLevel(ctx context.Context, u *User, path string) (AccessLevel, error) {
	ms, err := s.Store.GroupMembershipsOf(ctx, u.ID)
	if err != nil || len(ms) == 0 {
		return 0, err
	}
	along, err := s.Store.GroupsAlong(ctx, path)
	if err != nil {
		return 0, err
	}
	var level AccessLevel
	for _, g := range along {
		for _, m := range ms {
			if m.GroupID == g.ID {
				level = max(level, m.AccessLevel)
			}
		}
	}
	return level, nil
}

// CanSee reports whether u (nil: anonymous) may know p exists, given its
// access level in p.
func CanSee(u *User, p *Project, level AccessLevel) bool {
	switch {
	case p.Visibility == Public:
		return true
	case p.Visibility == Internal && u != nil:
		return true
	}
	return level >= Guest
}

// FindProject resolves a numeric id or a (URL-decoded) full path.
func (s *Service) FindProject(ctx context.Context, ref string) (Project, error) {
	var (
		p   Project
		err error
	)
	if id, ok := ParseID(ref); ok {
		p, err = s.Store.Project(ctx, id)
	} else {
		if ValidateProjectPath("id", ref) != nil {
			return p, ErrProjectNotFound
		}
		p, err = s.Store.ProjectByPath(ctx, ref)
	}
	if errors.Is(err, ErrNotFound) {
		return p, ErrProjectNotFound
	}
	return p, err
}

// ProjectFor resolves ref and checks the actor may see it (404 otherwise)
// and has at least level in it (403 otherwise). It answers the actor's level.
func (s *Service) ProjectFor(ctx context.Context, a *Actor, ref string, level AccessLevel) (Project, AccessLevel, error) {
	p, err := s.FindProject(ctx, ref)
	if err != nil {
		return p, 0, err
	}
	var u *User
	if a != nil {
		u = &a.User
	}
	have, err := s.AccessLevel(ctx, u, &p)
	if err != nil {
		return p, 0, err
	}
	if !CanSee(u, &p, have) {
		return p, have, ErrProjectNotFound
	}
	if have < level {
		return p, have, ErrForbidden
	}
	return p, have, nil
}

// CreateUserInput is what an admin gives to create a user.
type CreateUserInput struct {
	Username string
	Name     string
	Admin    bool
}

// CreateUser creates a user; only admins may.
func (s *Service) CreateUser(ctx context.Context, a *Actor, in CreateUserInput) (User, error) {
	if !a.User.Admin {
		return User{}, ErrForbidden
	}
	if err := ValidateUsername(in.Username); err != nil {
		return User{}, err
	}
	if in.Name == "" {
		in.Name = in.Username
	}
	if err := ValidateName("name", in.Name); err != nil {
		return User{}, err
	}
	if err := s.tokenHoldsUsername(ctx, in.Username); err != nil {
		return User{}, err
	}
	u := User{Username: in.Username, Name: in.Name, Admin: in.Admin, CreatedAt: s.Clock()}
	if err := s.Store.CreateUser(ctx, &u); err != nil {
		if errors.Is(err, ErrConflict) {
			return User{}, Conflict("username has already been taken")
		}
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// CreatePATInput describes a personal access token to create.
type CreatePATInput struct {
	Name      string
	Scopes    []string
	ExpiresAt string
}

// CreatePAT creates a personal access token for userID; only admins may.
func (s *Service) CreatePAT(ctx context.Context, a *Actor, userID int64, in CreatePATInput) (PersonalAccessToken, Secret, error) {
	if !a.User.Admin {
		return PersonalAccessToken{}, "", ErrForbidden
	}
	if _, err := s.Store.User(ctx, userID); err != nil {
		if errors.Is(err, ErrNotFound) {
			return PersonalAccessToken{}, "", ErrUserNotFound
		}
		return PersonalAccessToken{}, "", err
	}
	if err := ValidateName("name", in.Name); err != nil {
		return PersonalAccessToken{}, "", err
	}
	scopes, err := NormalizeScopes("scopes", in.Scopes, PATScopes)
	if err != nil {
		return PersonalAccessToken{}, "", err
	}
	exp, err := ParseExpiry("expires_at", in.ExpiresAt, s.Clock())
	if err != nil {
		return PersonalAccessToken{}, "", err
	}
	secret, err := Generate(PATSecret)
	if err != nil {
		return PersonalAccessToken{}, "", err
	}
	t := PersonalAccessToken{UserID: userID, Name: in.Name, Scopes: scopes, ExpiresAt: exp, CreatedAt: s.Clock(), Digest: s.Keys.Digest(secret.Reveal())}
	if err := s.Store.CreatePAT(ctx, &t); err != nil {
		return PersonalAccessToken{}, "", fmt.Errorf("create personal access token: %w", err)
	}
	s.record(ctx, patEvent(EventPATCreated, a, t))
	return t, secret, nil
}

// PAT answers token id to its owner or an admin; to anyone else it does
// not exist.
func (s *Service) PAT(ctx context.Context, a *Actor, id int64) (PersonalAccessToken, error) {
	t, err := s.Store.PAT(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && t.UserID != a.User.ID && !a.User.Admin) {
		return PersonalAccessToken{}, ErrPATNotFound
	}
	return t, err
}

// RevokePAT revokes token id, for its owner or an admin. Every request
// with it is refused from then on, and the web sessions opened with it
// end.
func (s *Service) RevokePAT(ctx context.Context, a *Actor, id int64) error {
	t, err := s.PAT(ctx, a, id)
	if err != nil {
		return err
	}
	if t.Revoked {
		// Done already: the same answer, and no second "revoked" in the
		// log naming someone who revoked nothing. The token it was
		// rotated from may not be, when the first attempt failed after
		// revoking this one (a 503): a retry ends it too.
		return s.revokePrevious(ctx, a, &t)
	}
	if err := s.Store.RevokePAT(ctx, t.ID); err != nil {
		if errors.Is(err, ErrNotFound) {
			return ErrPATNotFound
		}
		return err
	}
	s.log().InfoContext(ctx, "personal access token revoked", "token_id", t.ID, "user_id", t.UserID, "by", a.User.Username)
	s.record(ctx, patEvent(EventPATRevoked, a, t))
	return s.revokePrevious(ctx, a, &t)
}

// CreateProjectInput describes a project to create.
type CreateProjectInput struct {
	Path          string
	NamespacePath string
	// NamespaceID names the namespace by ID instead (see Namespace.ID).
	NamespaceID int64
	Visibility  string
	// Name defaults to Path.
	Name string
}

// CreateProject creates a project (and its repository) owned by the actor.
func (s *Service) CreateProject(ctx context.Context, a *Actor, in CreateProjectInput) (Project, error) {
	if err := ValidateSegment("path", in.Path); err != nil {
		return Project{}, err
	}
	ns := strings.Trim(in.NamespacePath, "/")
	if in.NamespaceID != 0 {
		n, err := s.FindNamespace(ctx, a, fmt.Sprint(in.NamespaceID))
		if err != nil {
			return Project{}, err
		}
		if ns != "" && !strings.EqualFold(ns, n.FullPath) {
			return Project{}, Invalid("namespace_id", "names another namespace than namespace_path")
		}
		ns = n.FullPath
	}
	if ns == "" {
		ns = a.User.Username
	}
	if err := ValidateProjectPath("namespace_path", ns); err != nil {
		return Project{}, err
	}
	vis := Visibility(in.Visibility)
	if in.Visibility == "" {
		vis = Private
	}
	if !vis.Valid() {
		return Project{}, Invalid("visibility", "does not have a valid value (private, internal or public)")
	}
	full := ns + "/" + in.Path
	if err := ValidateProjectPath("path", full); err != nil {
		return Project{}, err
	}
	if in.Name == "" {
		in.Name = in.Path
	}
	if err := ValidateName("name", in.Name); err != nil {
		return Project{}, err
	}
	pl, err := s.checkNamespace(ctx, a, ns, full)
	if err != nil {
		return Project{}, err
	}
	if err := s.checkDeadPath(ctx, full); err != nil {
		return Project{}, err
	}
	groupID, err := s.makeNamespace(ctx, a, pl, vis)
	if err != nil {
		return Project{}, err
	}
	now := s.Clock()
	p := Project{Path: in.Path, Name: in.Name, PathWithNamespace: full, Visibility: vis, CreatorID: a.User.ID, CreatedAt: now, NamespaceID: groupID}
	err = s.Store.CreateProject(ctx, &p, Member{UserID: a.User.ID, AccessLevel: Owner, CreatedAt: now})
	switch {
	case errors.Is(err, ErrConflict):
		if _, gerr := s.Store.GroupByPath(ctx, full); gerr == nil {
			// The caller may create in the namespace, so may know the
			// group below it.
			return Project{}, Invalid("path", "is a group's, and a project cannot be nested with the projects in it")
		}
		return Project{}, &Error{Kind: KindInvalid, Message: "path has already been taken"}
	case errors.Is(err, ErrNotFound) && groupID != 0:
		return Project{}, Invalid("namespace_path", "was deleted meanwhile")
	case errors.Is(err, ErrNested):
		// checkNamespace saw no such project: one was created meanwhile.
		return Project{}, Invalid("path", "cannot be nested with another project")
	case errors.Is(err, ErrReserved):
		// A project deleted since checkDeadPath reserved it.
		return Project{}, s.reservedPath(ctx, full)
	case err != nil:
		return Project{}, fmt.Errorf("create project: %w", err)
	}
	if s.Repos != nil {
		// Only the creator that won the path gets here, so repositories
		// are never created twice; without one the project is undone.
		if err := s.Repos.Create(ctx, full); err != nil {
			if derr := s.Store.DeleteProject(context.WithoutCancel(ctx), p.ID); derr != nil {
				s.log().Error("undo project without repository", "project", full, "err", derr)
			}
			return Project{}, fmt.Errorf("create repository: %w", err)
		}
	}
	return p, nil
}

// checkNamespace decides whether a may create a project at full, in
// namespace ns, and where it goes (namespaceRights); and no project may
// sit inside another's path or hold one inside its own, since images under
// a project's path are that project's. Authorization comes first: a caller
// who may not create in the namespace gets one answer whatever sits there,
// so it can't probe for private paths.
func (s *Service) checkNamespace(ctx context.Context, a *Actor, ns, full string) (placement, error) {
	pl, err := s.namespaceRights(ctx, a, ns)
	if err != nil {
		return pl, err
	}
	p, found, err := s.nestedProject(ctx, full)
	if err != nil || !found {
		return pl, err
	}
	if level, err := s.AccessLevel(ctx, &a.User, &p); err != nil {
		return pl, err
	} else if level >= Maintainer {
		return pl, Invalid("path", "cannot be nested with project %q", p.PathWithNamespace)
	}
	return pl, Invalid("namespace_path", "is not available")
}

func (s *Service) isMaintainerOfAny(ctx context.Context, a *Actor, projectIDs []int64) bool {
	if a.User.Admin {
		return true
	}
	ms, err := s.Store.MembershipsOf(ctx, a.User.ID)
	if err != nil {
		return false
	}
	for _, m := range ms {
		if m.AccessLevel >= Maintainer && slices.Contains(projectIDs, m.ProjectID) {
			return true
		}
	}
	return false
}

// VisibleProjects answers the projects the actor may see, ordered by id.
func (s *Service) VisibleProjects(ctx context.Context, a *Actor) ([]Project, error) {
	all, err := s.Store.ListProjects(ctx)
	if err != nil {
		return nil, err
	}
	if a.User.Admin {
		return all, nil
	}
	ms, err := s.Store.MembershipsOf(ctx, a.User.ID)
	if err != nil {
		return nil, err
	}
	member := map[int64]bool{}
	for _, m := range ms {
		member[m.ProjectID] = true
	}
	out := all[:0]
	for _, p := range all {
		if member[p.ID] || p.Visibility != Private {
			out = append(out, p)
		}
	}
	return out, nil
}

// DeleteProject removes a project, its members, its deploy tokens, its
// repository and its registry images; owners and admins only. Its path
// stays reserved while the images may still exist (see DeadPath).
func (s *Service) DeleteProject(ctx context.Context, a *Actor, ref string) (DeletedProject, error) {
	p, _, err := s.ProjectFor(ctx, a, ref, Owner)
	if err != nil {
		return DeletedProject{}, err
	}
	return s.deleteProject(ctx, p)
}

func (s *Service) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// MemberView is a member with the user's names, as the API shows it.
type MemberView struct {
	Member
	User User
}

// ListMembers answers a project's members; anyone who can see it may.
func (s *Service) ListMembers(ctx context.Context, a *Actor, ref string) ([]MemberView, error) {
	p, _, err := s.ProjectFor(ctx, a, ref, 0)
	if err != nil {
		return nil, err
	}
	ms, err := s.Store.ListMembers(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	out := make([]MemberView, 0, len(ms))
	for _, m := range ms {
		u, err := s.Store.User(ctx, m.UserID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, MemberView{Member: m, User: u})
	}
	return out, nil
}

// SetMember adds a member or changes a member's level. create distinguishes
// POST (the member must not exist) from PUT (it must). Maintainers manage
// members up to their own level.
func (s *Service) SetMember(ctx context.Context, a *Actor, ref string, userID int64, level AccessLevel, create bool) (MemberView, error) {
	p, have, err := s.ProjectFor(ctx, a, ref, Maintainer)
	if err != nil {
		return MemberView{}, err
	}
	u, created, err := s.checkMemberChange(ctx, userID, level, have, create, func() (AccessLevel, time.Time, error) {
		m, err := s.Store.Member(ctx, p.ID, userID)
		return m.AccessLevel, m.CreatedAt, err
	})
	if err != nil {
		return MemberView{}, err
	}
	m := Member{ProjectID: p.ID, UserID: userID, AccessLevel: level, CreatedAt: created}
	if err := s.Store.PutMember(ctx, m); errors.Is(err, ErrLastOwner) {
		// The store keeps an owner in the same atomic step as the write.
		return MemberView{}, errNeedsOwner
	} else if err != nil {
		return MemberView{}, fmt.Errorf("put member: %w", err)
	}
	s.record(ctx, memberEvent(a, create, m.AccessLevel, u, EntityProject, p.ID, p.PathWithNamespace))
	return MemberView{Member: m, User: u}, nil
}

// checkMemberChange is what a change of userID's level to level checks in
// a project or a group alike, in this order: the level is valid and not
// above the caller's own there (have); the user exists; the member exists
// for an edit (create false) and not for an add; and an existing member is
// not above have. current reads the member's level and creation time
// (ErrNotFound: no such member). It answers the user and the creation
// time the member keeps: its own, or now for a new one.
func (s *Service) checkMemberChange(ctx context.Context, userID int64, level, have AccessLevel, create bool, current func() (AccessLevel, time.Time, error)) (User, time.Time, error) {
	if !level.Valid() {
		return User{}, time.Time{}, Invalid("access_level", "does not have a valid value (10, 20, 30, 40 or 50)")
	}
	if level > have {
		return User{}, time.Time{}, Forbidden("access_level is higher than your own")
	}
	u, err := s.Store.User(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return User{}, time.Time{}, ErrUserNotFound
	}
	if err != nil {
		return User{}, time.Time{}, err
	}
	oldLevel, created, err := current()
	switch {
	case err == nil && create:
		return User{}, time.Time{}, Conflict("Member already exists")
	case errors.Is(err, ErrNotFound) && !create:
		return User{}, time.Time{}, ErrMemberNotFound
	case err != nil && !errors.Is(err, ErrNotFound):
		return User{}, time.Time{}, err
	case err == nil && oldLevel > have:
		return User{}, time.Time{}, ErrForbidden
	case err != nil:
		created = s.Clock() // a new member
	}
	return u, created, nil
}

// RemoveMember removes a member; maintainers remove members up to their
// own level, and a member may remove themselves.
func (s *Service) RemoveMember(ctx context.Context, a *Actor, ref string, userID int64) error {
	need := Maintainer
	if a != nil && a.User.ID == userID {
		// Any member may leave, as in GitLab; the last owner may not.
		need = Guest
	}
	p, have, err := s.ProjectFor(ctx, a, ref, need)
	if err != nil {
		return err
	}
	m, err := s.Store.Member(ctx, p.ID, userID)
	if errors.Is(err, ErrNotFound) {
		return ErrMemberNotFound
	}
	if err != nil {
		return err
	}
	if m.AccessLevel > have {
		return ErrForbidden
	}
	if err := s.Store.DeleteMember(ctx, p.ID, userID); errors.Is(err, ErrLastOwner) {
		return errNeedsOwner
	} else if errors.Is(err, ErrNotFound) {
		return ErrMemberNotFound
	} else if err != nil {
		return err
	}
	s.record(ctx, memberRemoved(a, userID, EntityProject, p.ID, p.PathWithNamespace))
	return nil
}

// errNeedsOwner answers a change that would leave a project without an
// owner, as GitLab refuses it.
var errNeedsOwner = &Error{Kind: KindInvalid, Message: "access_level: a project needs at least one owner"}

// CreateDeployTokenInput describes a deploy token to create.
type CreateDeployTokenInput struct {
	Name      string
	Username  string
	Scopes    []string
	ExpiresAt string
}

// ValidateDeployToken checks in and answers the token it describes
// (without ID, digest or project); the web form and the API share it.
func (s *Service) ValidateDeployToken(in CreateDeployTokenInput) (DeployToken, []error) {
	var errs []error
	t := DeployToken{Name: in.Name, Username: in.Username, CreatedAt: s.Clock()}
	if err := ValidateName("name", in.Name); err != nil {
		errs = append(errs, err)
	}
	if in.Username != "" {
		if err := ValidateTokenUsername(in.Username); err != nil {
			errs = append(errs, err)
		}
	}
	scopes := in.Scopes
	if in.Name == CITokenName && len(scopes) == 0 {
		// The CI token pulls whatever scopes it has (IsCIToken implies
		// read_registry), so asking for one would only be ceremony.
		scopes = []string{ScopeReadRegistry}
	}
	var err error
	if t.Scopes, err = NormalizeScopes("scopes", scopes, DeployTokenScopes); err != nil {
		errs = append(errs, err)
	}
	if t.ExpiresAt, err = ParseExpiry("expires_at", in.ExpiresAt, t.CreatedAt); err != nil {
		errs = append(errs, err)
	}
	return t, errs
}

// CreateDeployToken creates a deploy token in a project; maintainers,
// owners and admins only. The secret is answered once.
func (s *Service) CreateDeployToken(ctx context.Context, a *Actor, ref string, in CreateDeployTokenInput) (DeployToken, Secret, error) {
	p, _, err := s.ProjectFor(ctx, a, ref, Maintainer)
	if err != nil {
		return DeployToken{}, "", err
	}
	t, secret, err := s.mintDeployToken(ctx, a, in, DeployToken{ProjectID: p.ID}, ErrProjectNotFound)
	if err != nil {
		return DeployToken{}, "", err
	}
	s.log().InfoContext(ctx, "deploy token created", "project", p.PathWithNamespace, "token_id", t.ID, "username", t.Username, "by", a.User.Username)
	s.record(ctx, tokenEvent(EventDeployTokenCreated, a, &t, p.PathWithNamespace))
	return t, secret, nil
}

// mintDeployToken validates in, makes the secret and stores the token
// owned as owner says (its ProjectID or GroupID), answering notFound when
// that owner is gone meanwhile: the one path of project and group tokens,
// so both have the same rules.
func (s *Service) mintDeployToken(ctx context.Context, a *Actor, in CreateDeployTokenInput, owner DeployToken, notFound error) (DeployToken, Secret, error) {
	t, errs := s.ValidateDeployToken(in)
	if len(errs) > 0 {
		return DeployToken{}, "", errs[0]
	}
	secret, err := Generate(DeployTokenSecret)
	if err != nil {
		return DeployToken{}, "", err
	}
	if err := s.userHoldsUsername(ctx, t.Username); err != nil {
		return DeployToken{}, "", err
	}
	t.ProjectID, t.GroupID = owner.ProjectID, owner.GroupID
	t.CreatorID, t.Digest = a.User.ID, s.Keys.Digest(secret.Reveal())
	if t.IsCIToken() {
		// Bound to the digest, which is unique and known before the ID.
		if t.CISecret, err = s.Keys.Seal(secret, string(t.Digest)); err != nil {
			return DeployToken{}, "", err
		}
	}
	if err := s.Store.CreateDeployToken(ctx, &t); err != nil {
		if errors.Is(err, ErrNotFound) {
			return DeployToken{}, "", notFound
		}
		return DeployToken{}, "", fmt.Errorf("create deploy token: %w", err)
	}
	return t, secret, nil
}

// ListDeployTokens answers a project's deploy tokens (only active ones when
// activeOnly); maintainers, owners and admins only.
func (s *Service) ListDeployTokens(ctx context.Context, a *Actor, ref string, activeOnly bool) ([]DeployToken, error) {
	p, _, err := s.ProjectFor(ctx, a, ref, Maintainer)
	if err != nil {
		return nil, err
	}
	ts, err := s.Store.ListDeployTokens(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	if activeOnly {
		now := s.Clock()
		ts = slices.DeleteFunc(ts, func(t DeployToken) bool { return !t.Active(now) })
	}
	return ts, nil
}

// ListAllDeployTokens answers every deploy token; admins only.
func (s *Service) ListAllDeployTokens(ctx context.Context, a *Actor, activeOnly bool) ([]DeployToken, error) {
	if !a.User.Admin {
		return nil, ErrForbidden
	}
	ts, err := s.Store.ListAllDeployTokens(ctx)
	if err != nil {
		return nil, err
	}
	if activeOnly {
		now := s.Clock()
		ts = slices.DeleteFunc(ts, func(t DeployToken) bool { return !t.Active(now) })
	}
	return ts, nil
}

// DeployToken answers one of a project's deploy tokens.
func (s *Service) DeployToken(ctx context.Context, a *Actor, ref string, id int64) (DeployToken, error) {
	p, _, err := s.ProjectFor(ctx, a, ref, Maintainer)
	if err != nil {
		return DeployToken{}, err
	}
	t, err := s.Store.DeployToken(ctx, p.ID, id)
	if errors.Is(err, ErrNotFound) {
		return t, ErrTokenNotFound
	}
	return t, err
}

// RevokeDeployToken revokes a deploy token; the record stays.
func (s *Service) RevokeDeployToken(ctx context.Context, a *Actor, ref string, id int64) error {
	p, _, err := s.ProjectFor(ctx, a, ref, Maintainer)
	if err != nil {
		return err
	}
	t, err := s.Store.DeployToken(ctx, p.ID, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return ErrTokenNotFound
	case err != nil:
		return err
	case t.Revoked:
		return nil // as RevokePAT: the same answer, no second log line
	}
	err = s.Store.RevokeDeployToken(ctx, p.ID, id)
	if errors.Is(err, ErrNotFound) {
		return ErrTokenNotFound
	}
	if err == nil {
		s.log().InfoContext(ctx, "deploy token revoked", "project", p.PathWithNamespace, "token_id", id, "by", a.User.Username)
		t.Revoked = true
		s.record(ctx, tokenEvent(EventDeployTokenRevoked, a, &t, p.PathWithNamespace))
	}
	return err
}

// A deploy token's username and a user's are never equal (without regard
// to case, as usernames are looked up): a token named root would sign
// JWTs with sub=root and appear as root in git's reflog (issue 20). Only
// live tokens hold a name against users: a revoked or expired one
// authenticates nobody. The check is the service's, not an atomic one in
// the stores: the stores' index of deploy tokens by username
// (TokenUsernames) makes it cheap, but checking it in the transaction
// that creates a user (and users in the one that creates a token) would
// change both stores' write paths for a race between an admin creating a
// user and a maintainer naming a token alike in the same instant; and the
// JWT's auth_type claim tells the two apart even then.

// userHoldsUsername refuses a deploy token username that is a user's.
// The default gitlab+deploy-token-N ("" here) can't be a username.
func (s *Service) userHoldsUsername(ctx context.Context, username string) error {
	if username == "" {
		return nil
	}
	if strings.EqualFold(username, RootUsername) {
		// The admin token's user, whether or not it is stored yet.
		return Invalid("username", "%q is a user's username", username)
	}
	_, err := s.Store.UserByUsername(ctx, username)
	switch {
	case err == nil:
		return Invalid("username", "%q is a user's username", username)
	case errors.Is(err, ErrNotFound):
		return nil
	default:
		return fmt.Errorf("read user by username: %w", err)
	}
}

// tokenHoldsUsername refuses a new user's username that a live deploy
// token has: it reads the tokens of that username from the stores' index
// (issue 21), not every token.
func (s *Service) tokenHoldsUsername(ctx context.Context, username string) error {
	ts, err := s.Store.DeployTokensByUsername(ctx, username)
	if err != nil {
		return fmt.Errorf("read deploy tokens by username: %w", err)
	}
	now := s.Clock()
	for _, t := range ts {
		if t.Active(now) && strings.EqualFold(t.Username, username) {
			return Conflict("username has already been taken by a deploy token")
		}
	}
	return nil
}
