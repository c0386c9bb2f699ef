package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/tokens"
)

// groupJSON is a group as GitLab's API shows it.
type groupJSON struct {
	ID          int64   `json:"id"`
	Name        string  `json:"name"`
	Path        string  `json:"path"`
	FullPath    string  `json:"full_path"`
	FullName    string  `json:"full_name"`
	ParentID    *int64  `json:"parent_id"`
	Visibility  string  `json:"visibility"`
	Description string  `json:"description"`
	WebURL      string  `json:"web_url"`
	AvatarURL   *string `json:"avatar_url"`
	CreatedAt   *string `json:"created_at"`
}

// groupView answers a function that renders groups for one request. A
// group's full_name joins the names of the groups along its path, read
// once per request and parent.
func (a *API) groupView(c echo.Context) func(tokens.Group) groupJSON {
	parents := map[string]string{} // lowercase parent path: its full name
	return func(g tokens.Group) groupJSON {
		full := g.Name
		if parent, ok := strings.CutSuffix(g.FullPath, "/"+g.Path); ok {
			key := strings.ToLower(parent)
			name, ok := parents[key]
			if !ok {
				// A name that can't be read shows as its path segment:
				// a list is not refused for a label.
				parts := strings.Split(parent, "/")
				if along, err := a.Service.Store.GroupsAlong(ctx(c), parent); err == nil {
					for _, up := range along {
						if n := strings.Count(up.FullPath, "/"); n < len(parts) {
							parts[n] = up.Name
						}
					}
				}
				name = strings.Join(parts, " / ")
				parents[key] = name
			}
			full = name + " / " + g.Name
		}
		j := groupJSON{
			ID: g.ID, Name: g.Name, Path: g.Path, FullPath: g.FullPath, FullName: full,
			Visibility: string(g.Visibility), Description: g.Description,
			WebURL: a.ExternalURL.JoinPath("groups", g.FullPath).String(), CreatedAt: rfc3339(&g.CreatedAt),
		}
		if g.ParentID != 0 {
			j.ParentID = &g.ParentID
		}
		return j
	}
}

// groupRef answers the :id path parameter: a group id or a full path.
func groupRef(c echo.Context) (string, error) {
	ref, ok := pathParam(c, "id")
	if !ok || ref == "" {
		return "", tokens.Invalid("id", "must be a group id or a URL-encoded path")
	}
	return ref, nil
}

func (a *API) createGroup(c echo.Context) error {
	p, err := readParams(c)
	if err != nil {
		return err
	}
	in := tokens.CreateGroupInput{
		Name: p.str("name"), Path: p.str("path"), Visibility: p.str("visibility"), Description: p.str("description"),
	}
	if p.has("parent_id") {
		// GitLab's clients send parent_id null or 0 for a top-level group.
		if s := p.str("parent_id"); s != "" && s != "0" {
			in.ParentID = p.int("parent_id", 0)
			if p.Err() == nil && in.ParentID <= 0 {
				return tokens.Invalid("parent_id", "must be a positive integer")
			}
		}
	}
	if err := p.Err(); err != nil {
		return err
	}
	if in.Path == "" && in.Name != "" {
		return tokens.Invalid("path", "is missing")
	}
	g, err := a.Service.CreateGroup(ctx(c), actor(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, a.groupView(c)(g))
}

func (a *API) listGroups(c echo.Context) error {
	p, err := readParams(c)
	if err != nil {
		return err
	}
	q := tokens.GroupQuery{
		Search: p.str("search"), Owned: p.bool("owned"), TopLevelOnly: p.bool("top_level_only"),
		MinAccessLevel: tokens.AccessLevel(p.int("min_access_level", 0)),
	}
	if err := p.Err(); err != nil {
		return err
	}
	if p.has("min_access_level") && !q.MinAccessLevel.Valid() {
		return tokens.Invalid("min_access_level", "does not have a valid value (10, 20, 30, 40 or 50)")
	}
	page, perPage, err := pageParams(c)
	if err != nil {
		return err
	}
	q.Offset, q.Limit = (page-1)*perPage, perPage
	if actor(c).User.Admin && q.SelectsAll() {
		gs, total, err := a.Service.PageAllGroups(ctx(c), actor(c), tokens.Page{Offset: q.Offset, Limit: q.Limit})
		if err != nil {
			return err
		}
		return writePage(c, a.ExternalURL, gs, total, page, perPage, a.groupView(c))
	}
	gs, more, err := a.Service.ListGroups(ctx(c), actor(c), q)
	if err != nil {
		return err
	}
	return writeKeysetPage(c, a, gs, page, perPage, more, a.groupView(c))
}

// writeKeysetPage answers a page whose total is not counted (counting
// would read every record): GitLab's headers without X-Total and
// X-Total-Pages, as GitLab itself answers for large collections.
func writeKeysetPage[T, J any](c echo.Context, a *API, items []T, page, perPage int, more bool, view func(T) J) error {
	total := (page-1)*perPage + len(items)
	if more {
		total++ // at least one more: setPageHeaders then links the next page
	}
	setPageHeaders(c, a.ExternalURL, total, page, perPage)
	h := c.Response().Header()
	h.Del("X-Total")
	h.Del("X-Total-Pages")
	// "last" is not known.
	var links []string
	for l := range strings.SplitSeq(h.Get("Link"), ", ") {
		if !strings.HasSuffix(l, `rel="last"`) {
			links = append(links, l)
		}
	}
	h.Set("Link", strings.Join(links, ", "))
	return writeItems(c, items, view)
}

func (a *API) getGroup(c echo.Context) error {
	ref, err := groupRef(c)
	if err != nil {
		return err
	}
	g, _, err := a.Service.GroupFor(ctx(c), actor(c), ref, 0)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a.groupView(c)(g))
}

func (a *API) updateGroup(c echo.Context) error {
	ref, err := groupRef(c)
	if err != nil {
		return err
	}
	p, err := readParams(c)
	if err != nil {
		return err
	}
	var in tokens.UpdateGroupInput
	for _, f := range []struct {
		name string
		to   **string
	}{{"name", &in.Name}, {"description", &in.Description}, {"visibility", &in.Visibility}} {
		if p.has(f.name) {
			v := p.str(f.name)
			*f.to = &v
		}
	}
	for _, f := range []string{"path", "parent_id"} {
		if p.has(f) {
			return tokens.Invalid(f, "cannot be changed: a group's path is fixed once created")
		}
	}
	if err := p.Err(); err != nil {
		return err
	}
	g, err := a.Service.UpdateGroup(ctx(c), actor(c), ref, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a.groupView(c)(g))
}

func (a *API) deleteGroup(c echo.Context) error {
	ref, err := groupRef(c)
	if err != nil {
		return err
	}
	if err := a.Service.DeleteGroup(ctx(c), actor(c), ref); err != nil {
		return err
	}
	// GitLab answers 202: its deletion runs later; this one is done.
	return c.JSON(http.StatusAccepted, map[string]string{"message": "202 Accepted"})
}

func (a *API) listSubgroups(c echo.Context) error {
	ref, err := groupRef(c)
	if err != nil {
		return err
	}
	return servePage(c, a.ExternalURL, func(p tokens.Page) ([]tokens.Group, int, error) {
		return a.Service.PageSubgroups(ctx(c), actor(c), ref, p)
	}, a.groupView(c))
}

func (a *API) listGroupProjects(c echo.Context) error {
	ref, err := groupRef(c)
	if err != nil {
		return err
	}
	return servePage(c, a.ExternalURL, func(p tokens.Page) ([]tokens.Project, int, error) {
		return a.Service.PageGroupProjects(ctx(c), actor(c), ref, p)
	}, a.projectView(c))
}

func (a *API) listGroupMembers(c echo.Context) error {
	ref, err := groupRef(c)
	if err != nil {
		return err
	}
	return servePage(c, a.ExternalURL, func(p tokens.Page) ([]tokens.MemberView, int, error) {
		return a.Service.PageGroupMembers(ctx(c), actor(c), ref, p)
	}, a.member)
}

func (a *API) listAllGroupMembers(c echo.Context) error {
	ref, err := groupRef(c)
	if err != nil {
		return err
	}
	ms, err := a.Service.AllGroupMembers(ctx(c), actor(c), ref)
	if err != nil {
		return err
	}
	return paginate(c, a.ExternalURL, ms, a.member)
}

func (a *API) listAllProjectMembers(c echo.Context) error {
	ref, err := projectRef(c)
	if err != nil {
		return err
	}
	ms, err := a.Service.AllProjectMembers(ctx(c), actor(c), ref)
	if err != nil {
		return err
	}
	return paginate(c, a.ExternalURL, ms, a.member)
}

func (a *API) addGroupMember(c echo.Context) error  { return a.setGroupMember(c, true) }
func (a *API) editGroupMember(c echo.Context) error { return a.setGroupMember(c, false) }

func (a *API) setGroupMember(c echo.Context, create bool) error {
	ref, err := groupRef(c)
	if err != nil {
		return err
	}
	uid, level, err := memberInput(c, create)
	if err != nil {
		return err
	}
	m, err := a.Service.SetGroupMember(ctx(c), actor(c), ref, uid, level, create)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if create {
		status = http.StatusCreated
	}
	return c.JSON(status, a.member(m))
}

// memberInput reads the user (from the body on POST, from the path on
// PUT) and the access level of a member to set.
func memberInput(c echo.Context, create bool) (int64, tokens.AccessLevel, error) {
	p, err := readParams(c)
	if err != nil {
		return 0, 0, err
	}
	var uid int64
	if create {
		switch uid = p.int("user_id", 0); {
		case p.Err() != nil:
		case !p.has("user_id"):
			return 0, 0, tokens.Invalid("user_id", "is missing")
		case uid <= 0:
			return 0, 0, tokens.Invalid("user_id", "must be a positive integer")
		}
	} else if uid, err = pathID(c, "user_id", tokens.ErrMemberNotFound); err != nil {
		return 0, 0, err
	}
	level := p.int("access_level", 0)
	if err := p.Err(); err != nil {
		return 0, 0, err
	}
	if !p.has("access_level") {
		return 0, 0, tokens.Invalid("access_level", "is missing")
	}
	return uid, tokens.AccessLevel(level), nil
}

func (a *API) removeGroupMember(c echo.Context) error {
	ref, err := groupRef(c)
	if err != nil {
		return err
	}
	uid, err := pathID(c, "user_id", tokens.ErrMemberNotFound)
	if err != nil {
		return err
	}
	if err := a.Service.RemoveGroupMember(ctx(c), actor(c), ref, uid); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// namespaceJSON is a namespace as GitLab's API shows it.
type namespaceJSON struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	Path      string  `json:"path"`
	Kind      string  `json:"kind"`
	FullPath  string  `json:"full_path"`
	ParentID  *int64  `json:"parent_id"`
	WebURL    string  `json:"web_url"`
	AvatarURL *string `json:"avatar_url"`
}

func (a *API) namespace(n tokens.Namespace) namespaceJSON {
	j := namespaceJSON{ID: n.ID, Name: n.Name, Path: n.Path, Kind: n.Kind, FullPath: n.FullPath}
	if n.Kind == tokens.NamespaceGroup {
		j.WebURL = a.ExternalURL.JoinPath("groups", n.FullPath).String()
	} else {
		j.WebURL = a.ExternalURL.JoinPath(n.FullPath).String()
	}
	if n.ParentID != 0 {
		j.ParentID = &n.ParentID
	}
	return j
}

func (a *API) listNamespaces(c echo.Context) error {
	p, err := readParams(c)
	if err != nil {
		return err
	}
	search := p.str("search")
	if err := p.Err(); err != nil {
		return err
	}
	return servePage(c, a.ExternalURL, func(pg tokens.Page) ([]tokens.Namespace, int, error) {
		return a.Service.PageNamespaces(ctx(c), actor(c), search, pg)
	}, a.namespace)
}

func (a *API) getNamespace(c echo.Context) error {
	ref, ok := pathParam(c, "id")
	if !ok || ref == "" {
		return tokens.Invalid("id", "must be a namespace id or a URL-encoded path")
	}
	n, err := a.Service.FindNamespace(ctx(c), actor(c), ref)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a.namespace(n))
}

// projectView answers a function that renders projects for one request
// with their namespace object, each namespace read once per request. A
// namespace that can't be read (its user deleted, say) is left out
// rather than refusing the list.
func (a *API) projectView(c echo.Context) func(tokens.Project) projectJSON {
	cache := map[string]*namespaceJSON{}
	return func(p tokens.Project) projectJSON {
		j := a.project(p)
		top, _, _ := strings.Cut(p.PathWithNamespace, "/")
		key := strconv.FormatInt(p.NamespaceID, 10) + ":" + strings.ToLower(top)
		ns, ok := cache[key]
		if !ok {
			if n, err := a.Service.NamespaceOf(ctx(c), p); err == nil {
				v := a.namespace(n)
				ns = &v
			}
			cache[key] = ns
		}
		j.Namespace = ns
		return j
	}
}

// registerGroups mounts the routes of groups and namespaces.
func (a *API) registerGroups(g *echo.Group, get func(string, echo.HandlerFunc)) {
	g.POST("/groups", a.createGroup)
	get("/groups", a.listGroups)
	get("/groups/:id", a.getGroup)
	g.PUT("/groups/:id", a.updateGroup)
	g.DELETE("/groups/:id", a.deleteGroup)
	get("/groups/:id/subgroups", a.listSubgroups)
	get("/groups/:id/projects", a.listGroupProjects)
	get("/groups/:id/members", a.listGroupMembers)
	g.POST("/groups/:id/members", a.addGroupMember)
	get("/groups/:id/members/all", a.listAllGroupMembers)
	g.PUT("/groups/:id/members/:user_id", a.editGroupMember)
	g.DELETE("/groups/:id/members/:user_id", a.removeGroupMember)
	get("/projects/:id/members/all", a.listAllProjectMembers)
	get("/namespaces", a.listNamespaces)
	get("/namespaces/:id", a.getNamespace)
}
