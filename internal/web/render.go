package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/tokens"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets/*
var assetFS embed.FS

// assetVersions maps each asset's name to a hash of its content, which its
// URL carries so browsers may cache it until it changes.
var assetVersions = func() map[string]string {
	m := map[string]string{}
	entries, err := fs.ReadDir(assetFS, "assets")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		b, err := assetFS.ReadFile("assets/" + e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		m[e.Name()] = hex.EncodeToString(sum[:6])
	}
	return m
}()

// pages are parsed once: each page's "content" in the shared layout, with
// the pieces pages share.
var pages = func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, name := range []string{"signin", "home", "project", "settings", "revoke", "rotate", "error", "audit"} {
		m[name] = template.Must(template.New("layout.html").Funcs(funcs).
			ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/"+name+".html"))
	}
	return m
}()

var funcs = template.FuncMap{
	"date":             func(v any) string { return formatTime(v, "Jan 2, 2006") },
	"isodate":          func(v any) string { return formatTime(v, time.DateOnly) },
	"scopeDescription": func(s string) string { return scopeDescriptions[s] },
	"join":             strings.Join,
}

// scopeDescriptions are GitLab's words for each deploy token scope.
var scopeDescriptions = map[string]string{
	tokens.ScopeReadRepository: "Allows read-access to the repository through git clone.",
	tokens.ScopeReadRegistry:   "Allows read-access to container registry images if a project is private and authorization is required.",
	tokens.ScopeWriteRegistry:  "Allows write-access (push) to the container registry.",
}

// view is what the layout needs, with the page's own data in Data.
type view struct {
	Title string
	Page  string
	Base  string
	User  *tokens.User
	CSRF  string
	Data  any
}

// Asset answers the versioned URL of an embedded asset.
func (v *view) Asset(name string) string {
	return v.Base + "/assets/web/" + name + "?v=" + assetVersions[name]
}

// URL answers an absolute path of this site.
func (v *view) URL(p string) string { return v.Base + p }

// securityHeaders keep pages out of frames and caches, and allow only this
// site's own styles and scripts.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	// Pages show who is signed in and, once, a token's secret: no cache
	// may keep them, and Back must not bring the secret back.
	h.Set("Cache-Control", "no-store")
}

// render writes a page. It renders into a buffer first, so a template
// failure answers a clean 500 instead of half a page.
func (h *Handler) render(rq *request, status int, page, title string, data any) {
	v := &view{Title: title, Page: page, Base: h.base(), User: rq.user, Data: data}
	if rq.user != nil || page == "signin" {
		v.CSRF = h.csrfToken(rq.csrfBase())
	}
	var buf bytes.Buffer
	if err := pages[page].Execute(&buf, v); err != nil {
		h.log().ErrorContext(rq.ctx(), "render page", "page", page, "err", err)
		buf.Reset()
		status = http.StatusInternalServerError
		buf.WriteString("<!doctype html><title>Something went wrong</title><p>Something went wrong.</p>\n")
	}
	resp := rq.c.Response()
	securityHeaders(resp.Header())
	resp.Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	resp.WriteHeader(status)
	resp.Write(buf.Bytes())
}

// serveAsset answers an embedded stylesheet or script.
func (h *Handler) serveAsset(c echo.Context, name string) {
	req := c.Request()
	resp := c.Response()
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		resp.Header().Set("Allow", "GET, HEAD")
		resp.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	b, _ := assetFS.ReadFile("assets/" + name)
	ctype := "application/octet-stream"
	switch path.Ext(name) {
	case ".css":
		ctype = "text/css; charset=utf-8"
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	}
	resp.Header().Set(echo.HeaderContentType, ctype)
	resp.Header().Set("X-Content-Type-Options", "nosniff")
	resp.Header().Set("Cache-Control", "public, max-age=86400")
	resp.Header().Set("Content-Length", strconv.Itoa(len(b)))
	resp.WriteHeader(http.StatusOK)
	if req.Method == http.MethodGet {
		resp.Write(b)
	}
}

// formatTime formats a time.Time or *time.Time in UTC; "" for nil.
func formatTime(v any, layout string) string {
	switch t := v.(type) {
	case time.Time:
		return t.UTC().Format(layout)
	case *time.Time:
		if t != nil {
			return t.UTC().Format(layout)
		}
	}
	return ""
}
