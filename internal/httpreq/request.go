package httpreq

import (
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/internal/httperr"
	"github.com/deploytokens/deploytokens/tokens"
)

// Repeated answers the first parameter (in name order) given more than once
// in v, other than arrays (name[], as GitLab's clients send them) and those
// listed in multi; "" when there is none. One value must not silently win
// over another.
func Repeated(v url.Values, multi ...string) string {
	var names []string
	for k, vs := range v {
		if len(vs) > 1 && !strings.HasSuffix(k, "[]") && !slices.Contains(multi, k) {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return slices.Min(names)
}

// ParseBodyType answers a request body's media type and its parameters
// ("" when there is no Content-Type), or refuses a body the server would
// misread: one compressed (a Content-Encoding other than identity: the API,
// the web forms and the token endpoint read bodies as sent; git's routes
// take gzip and do not call this), one whose Content-Type is given more
// than once or does not parse, or one in a charset other than UTF-8.
func ParseBodyType(h http.Header) (string, map[string]string, *httperr.Error) {
	for _, v := range h.Values("Content-Encoding") {
		for e := range strings.SplitSeq(v, ",") {
			if e = strings.TrimSpace(e); e != "" && !strings.EqualFold(e, "identity") {
				return "", nil, &httperr.Error{Status: http.StatusUnsupportedMediaType,
					Message: "Content-Encoding " + strconv.Quote(truncate(e, 32)) + " is not supported: send the body uncompressed"}
			}
		}
	}
	ct := h.Values("Content-Type")
	switch {
	case len(ct) == 0:
		return "", nil, nil
	case len(ct) > 1:
		return "", nil, &httperr.Error{Status: http.StatusBadRequest, Message: "Content-Type is given more than once"}
	}
	mt, ps, err := mime.ParseMediaType(ct[0])
	if err != nil {
		return "", nil, &httperr.Error{Status: http.StatusBadRequest, Message: "Content-Type is not a valid media type"}
	}
	if cs, ok := ps["charset"]; ok && !slices.ContainsFunc([]string{"utf-8", "utf8", "us-ascii"}, func(s string) bool { return strings.EqualFold(cs, s) }) {
		return "", nil, &httperr.Error{Status: http.StatusUnsupportedMediaType,
			Message: "charset " + strconv.Quote(truncate(cs, 32)) + " is not supported: send UTF-8"}
	}
	return mt, ps, nil
}

// Reason answers a parser's error as a client may read it: valid UTF-8, at
// most 200 bytes (a multipart error quotes the whole offending line), and
// net/url's complaint about ';' said as a body's fields need it said.
func Reason(err error) string {
	msg := strings.Replace(err.Error(), "invalid semicolon separator in query", "fields must be separated by '&', not ';'", 1)
	return strings.ToValidUTF8(truncate(msg, 200), "?")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// multiValued are the query parameters a client may repeat besides the
// API's arrays (name[]): a token request's scopes and the API's scopes
// list. Any other given twice is refused rather than one value silently
// winning.
var multiValued = []string{"scope", "scopes"}

// CheckQuery refuses a query string that does not parse: net/url would
// otherwise drop the parameters it cannot read and the handler would go on
// without them.
func CheckQuery(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		raw := c.Request().URL.RawQuery
		if raw == "" {
			return next(c)
		}
		q, err := url.ParseQuery(raw)
		if err != nil {
			return httperr.BadRequest("query string is not valid: " + strings.ToValidUTF8(err.Error(), "?"))
		}
		if k := Repeated(q, multiValued...); k != "" {
			return tokens.Invalid(k, "is given more than once")
		}
		return next(c)
	}
}
