package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/tokens"
)

// deletedJSON is the answer to a project's deletion: GitLab's, plus why
// the path stays reserved when it does (GitLab's own clients ignore what
// they do not know).
func deletedJSON(d tokens.DeletedProject) map[string]any {
	out := map[string]any{"message": "202 Accepted"}
	if d.PathReserved {
		out["path_reserved"] = true
		out["path_reserved_reason"] = d.Reason
	}
	return out
}

type reservedPathJSON struct {
	Path      string  `json:"path"`
	ProjectID int64   `json:"project_id"`
	DeletedAt *string `json:"deleted_at"`
	// ImagesBeingDeleted: the server is deleting the images and releases
	// the path itself once done.
	ImagesBeingDeleted bool `json:"images_being_deleted"`
}

// listReservedPaths answers a page of the paths of deleted projects that
// no project may take yet, ordered by path; admins only. deploytokens' own: GitLab has no equivalent.
func (a *API) listReservedPaths(c echo.Context) error {
	page, perPage, err := pageParams(c)
	if err != nil {
		return err
	}
	ds, total, err := a.Service.PageDeadPaths(ctx(c), actor(c), tokens.Page{Offset: (page - 1) * perPage, Limit: perPage})
	if err != nil {
		return err
	}
	return writePage(c, a.ExternalURL, ds, total, page, perPage, func(d tokens.DeadPath) reservedPathJSON {
		return reservedPathJSON{Path: d.Path, ProjectID: d.ProjectID, DeletedAt: rfc3339(&d.DeletedAt), ImagesBeingDeleted: d.Purge}
	})
}

// releaseReservedPath lets projects be created at a reserved path again
// (the admin has dealt with its images); admins only.
func (a *API) releaseReservedPath(c echo.Context) error {
	path, ok := pathParam(c, "path")
	if !ok || path == "" {
		return tokens.Invalid("path", "must be a URL-encoded project path")
	}
	if err := a.Service.ReleaseDeadPath(ctx(c), actor(c), path); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
