package web

import (
	"net/http"
	"strconv"

	"github.com/deploytokens/deploytokens/tokens"
)

// auditPerPage is how many events the Audit events tab shows at once.
const auditPerPage = 20

type auditData struct {
	Owner      owner
	Events     []tokens.AuditEvent
	Total      int
	Page       int
	Prev, Next string // links to the neighbouring pages, "" at an end
}

// auditEvents is the Audit events tab of a project's or a group's
// settings: the trail newest first, a page at a time, for maintainers,
// owners and admins (the service checks; others get 404).
func (h *Handler) auditEvents(rq *request) error {
	o, err := h.tokenOwner(rq)
	if err != nil {
		return err
	}
	pageNo := 1
	if v := rq.c.Request().URL.Query().Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			return page(http.StatusBadRequest, "Bad request", "The page parameter must be a positive number.")
		}
		pageNo = n
	}
	p := tokens.Page{Offset: (pageNo - 1) * auditPerPage, Limit: auditPerPage}
	var (
		es    []tokens.AuditEvent
		total int
	)
	if o.IsGroup() {
		es, total, err = h.Service.GroupAuditEvents(rq.ctx(), rq.actor(), o.Path, tokens.EventFilter{}, p)
	} else {
		es, total, err = h.Service.ProjectAuditEvents(rq.ctx(), rq.actor(), o.Path, tokens.EventFilter{}, p)
	}
	if err != nil {
		return err
	}
	d := auditData{Owner: o, Events: es, Total: total, Page: pageNo}
	link := func(n int) string { return h.base() + o.AuditEvents() + "?page=" + strconv.Itoa(n) }
	if pageNo > 1 {
		d.Prev = link(pageNo - 1)
	}
	if pageNo*auditPerPage < total {
		d.Next = link(pageNo + 1)
	}
	h.render(rq, http.StatusOK, "audit", "Audit events · "+o.Path, d)
	return nil
}
