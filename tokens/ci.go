package tokens

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// CIVariable is one variable a CI job gets, in GitLab's variable shape.
type CIVariable struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Masked bool   `json:"masked"`
}

// CIVariables answers the variables a job of the project needs (developers
// and up): where the registry is, and while an active gitlab-deploy-token
// exists, its username and secret: the project's own, otherwise the one of
// the nearest group along its path that has one (GitLab looks only at the
// immediate parent; every ancestor is what a team of teams expects). warning
// says why the deploy variables are missing, so jobs don't fail later at
// login with no hint.
//
// The deploy variables need a credential with the api scope: the secret
// pulls and may push images and clone code on its own, long after the
// caller has left the project, so a read_api token, which may only look,
// gets the other variables and a warning instead. Each hand-out of the
// secret is logged (who, with which PAT, from where, which project and
// deploy token; never the secret), so a leak can be traced to a reader.
func (s *Service) CIVariables(ctx context.Context, a *Actor, ref, registryHost, serverURL string) (vars []CIVariable, warning string, err error) {
	p, _, err := s.ProjectFor(ctx, a, ref, Developer)
	if err != nil {
		return nil, "", err
	}
	vars = []CIVariable{
		{Key: "CI_REGISTRY", Value: registryHost},
		{Key: "CI_REGISTRY_IMAGE", Value: registryHost + "/" + strings.ToLower(p.PathWithNamespace)},
		{Key: "CI_PROJECT_PATH", Value: p.PathWithNamespace},
		{Key: "CI_SERVER_URL", Value: serverURL},
	}
	ts, err := s.Store.ListDeployTokens(ctx, p.ID)
	if err != nil {
		return nil, "", err
	}
	now := s.Clock()
	newest, latestInactive := ciTokens(ts, now)
	if newest == nil && p.NamespaceID != 0 {
		// Only a project a group holds gets its groups' CI token (see
		// GroupHolds).
		if newest, err = s.groupCIToken(ctx, p.PathWithNamespace, now); err != nil {
			return nil, "", err
		}
	}
	switch {
	case newest != nil && !slices.Contains(a.Scopes, ScopeAPI):
		warning = fmt.Sprintf("CI_DEPLOY_USER and CI_DEPLOY_PASSWORD are handed out only to a personal access token with the %s scope: the deploy token %q (id %d) can do more than this %s token", ScopeAPI, CITokenName, newest.ID, ScopeReadAPI)
	case newest != nil:
		secret, err := s.Keys.Open(newest.CISecret, string(newest.Digest))
		if err != nil {
			return nil, "", fmt.Errorf("open CI token %d: %w", newest.ID, err)
		}
		s.auditCIHandOut(ctx, a, p, newest)
		return append(vars,
			CIVariable{Key: "CI_DEPLOY_USER", Value: newest.Username},
			CIVariable{Key: "CI_DEPLOY_PASSWORD", Value: secret.Reveal(), Masked: true},
		), "", nil
	case latestInactive != nil && latestInactive.Revoked:
		warning = fmt.Sprintf("the deploy token %q (id %d) was revoked; create a new one to get CI_DEPLOY_USER and CI_DEPLOY_PASSWORD", CITokenName, latestInactive.ID)
	case latestInactive != nil:
		warning = fmt.Sprintf("the deploy token %q (id %d) expired at %s; create a new one to get CI_DEPLOY_USER and CI_DEPLOY_PASSWORD", CITokenName, latestInactive.ID, latestInactive.ExpiresAt.Format("2006-01-02T15:04:05Z"))
	default:
		warning = fmt.Sprintf("neither the project nor a group above it has a deploy token named %q, so CI_DEPLOY_USER and CI_DEPLOY_PASSWORD are not set", CITokenName)
	}
	return vars, warning, nil
}

// Dotenv renders variables as KEY='value' lines that any POSIX sh can eval
// safely: each value in single quotes, a quote inside written as quote,
// backslash, quote, quote.
func Dotenv(vars []CIVariable, prefix string) string {
	var b strings.Builder
	for _, v := range vars {
		b.WriteString(prefix)
		b.WriteString(v.Key)
		b.WriteString("='")
		b.WriteString(strings.ReplaceAll(v.Value, "'", `'\''`))
		b.WriteString("'\n")
	}
	return b.String()
}

// ciTokens answers the newest active CI token of ts (ordered by ID), and
// the newest inactive one.
func ciTokens(ts []DeployToken, now time.Time) (newest, latestInactive *DeployToken) {
	for i := range ts {
		t := &ts[i]
		if !t.IsCIToken() {
			continue
		}
		if t.Active(now) {
			newest = t
		} else {
			latestInactive = t
		}
	}
	return newest, latestInactive
}

// groupCIToken answers the newest active CI token of the nearest group
// along projectPath that has one, or nil: one read for the groups, and one
// per group until a token is found, only for a project without its own.
func (s *Service) groupCIToken(ctx context.Context, projectPath string, now time.Time) (*DeployToken, error) {
	along, err := s.Store.GroupsAlong(ctx, projectPath)
	if err != nil {
		return nil, err
	}
	for i := len(along) - 1; i >= 0; i-- {
		ts, err := s.Store.ListGroupDeployTokens(ctx, along[i].ID)
		if err != nil {
			return nil, err
		}
		if t, _ := ciTokens(ts, now); t != nil {
			return t, nil
		}
	}
	return nil, nil
}

// auditCIHandOut writes the audit line of one hand-out of a CI token's
// secret: who read it, with which PAT, from where, for which project and
// which deploy token (a group's, for a project without its own).
func (s *Service) auditCIHandOut(ctx context.Context, a *Actor, p Project, t *DeployToken) {
	var patID int64
	if a.PAT != nil {
		patID = a.PAT.ID
	}
	s.log().InfoContext(ctx, "CI deploy password handed out",
		"by", a.User.Username, "user_id", a.User.ID, "pat_id", patID, "from", a.From,
		"project", p.PathWithNamespace, "project_id", p.ID,
		"token_id", t.ID, "token_username", t.Username, "token_group_id", t.GroupID)
	e := AuditEvent{Name: EventCIDeployPassword, EntityType: EntityProject, EntityID: p.ID, EntityPath: p.PathWithNamespace,
		ProjectID: p.ID, GroupID: t.GroupID, TargetID: t.ID, TargetType: "DeployToken", TargetDetails: t.Name + " (" + t.Username + ")"}
	e.actorAuthor(a)
	if patID != 0 {
		e.Message = fmt.Sprintf("read with personal access token %d", patID)
	}
	s.record(ctx, Event{AuditEvent: e})
}
