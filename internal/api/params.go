package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"iter"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/internal/httperr"
	"github.com/deploytokens/deploytokens/internal/httpreq"
	"github.com/deploytokens/deploytokens/tokens"
)

// maxBody bounds request bodies; the API's inputs are small.
const maxBody = 1 << 20

// params are a request's fields, from a JSON body, a form body or the query
// string, as GitLab accepts all three.
type params struct {
	json map[string]json.RawMessage
	form url.Values
	// err is the first field that could not be read; the accessors
	// answer zero values after it, and handlers check Err once.
	err error
}

// Err answers the first field error.
func (p *params) Err() error { return p.err }

func (p *params) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

func readParams(c echo.Context) (*params, error) {
	r := c.Request()
	query := r.URL.Query()
	p := &params{form: maps.Clone(query)}
	if r.Body == nil || r.Method == http.MethodGet || r.Method == http.MethodDelete {
		return p, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, httperr.BadRequest("request body could not be read")
	}
	if len(body) > maxBody {
		return nil, httperr.New(http.StatusRequestEntityTooLarge, "request body is too large")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return p, nil
	}
	ct, ctParams, perr := httpreq.ParseBodyType(r.Header)
	if perr != nil {
		return nil, perr
	}
	var inBody iter.Seq[string] // the body's field names
	switch ct {
	case "application/json", "":
		// encoding/json would turn invalid UTF-8, and \u escapes of half
		// a surrogate pair, into U+FFFD and store it.
		if !utf8.Valid(body) {
			return nil, httperr.BadRequest("request body is not valid UTF-8")
		}
		if loneSurrogate(body) {
			return nil, httperr.BadRequest("request body is not valid UTF-8: a \\u escape names half a surrogate pair")
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&p.json); err != nil || dec.More() {
			return nil, httperr.BadRequest("request body is not a valid JSON object")
		}
		if k := duplicateKey(body); k != "" {
			return nil, tokens.Invalid(k, "is given more than once")
		}
		inBody = maps.Keys(p.json)
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, httperr.BadRequest("request body is not a valid form: " + httpreq.Reason(err))
		}
		maps.Copy(p.form, form)
		inBody = maps.Keys(form)
	case "multipart/form-data":
		// curl --form, as many of GitLab's examples send; fields only.
		form, err := multipart.NewReader(bytes.NewReader(body), ctParams["boundary"]).ReadForm(maxBody)
		if errors.Is(err, multipart.ErrMessageTooLarge) {
			return nil, httperr.New(http.StatusRequestEntityTooLarge, "request body is a multipart form of more than 1000 parts or 10000 part headers")
		}
		if err != nil {
			return nil, httperr.BadRequest("request body is not a valid multipart form: " + httpreq.Reason(err))
		}
		defer form.RemoveAll()
		if len(form.File) > 0 {
			return nil, httperr.BadRequest("request body has a file part; this API takes fields only")
		}
		maps.Copy(p.form, url.Values(form.Value))
		inBody = maps.Keys(form.Value)
	default:
		return nil, httperr.New(http.StatusUnsupportedMediaType, "Content-Type must be application/json, application/x-www-form-urlencoded or multipart/form-data")
	}
	if k := alsoInQuery(query, inBody); k != "" {
		return nil, tokens.Invalid(k, "is given in both the query string and the body")
	}
	return p, nil
}

// alsoInQuery answers the first (in name order) of the body's fields that
// the query string gives too, an array (name[]) and its plain name counting
// as one field; "" when there is none.
func alsoInQuery(query url.Values, body iter.Seq[string]) string {
	for _, k := range slices.Sorted(body) {
		base := strings.TrimSuffix(k, "[]")
		if query.Has(base) || query.Has(base+"[]") {
			return base
		}
	}
	return ""
}

// str answers a string field; JSON numbers and booleans are taken as text.
func (p *params) str(name string) string {
	s, err := p.text(name)
	if err != nil {
		p.fail(err)
	}
	return s
}

func (p *params) text(name string) (string, error) {
	if len(p.form[name]) > 1 {
		return "", tokens.Invalid(name, "is given more than once")
	}
	if raw, ok := p.json[name]; ok {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			return s, nil
		}
		var n json.Number
		if err := json.Unmarshal(raw, &n); err == nil {
			return n.String(), nil
		}
		var b bool
		if err := json.Unmarshal(raw, &b); err == nil {
			return strconv.FormatBool(b), nil
		}
		if string(raw) == "null" {
			return "", nil
		}
		return "", tokens.Invalid(name, "must be a string")
	}
	return p.form.Get(name), nil
}

// duplicateKey answers a key the JSON object body names twice (encoding/json
// would keep the last silently), or "".
func duplicateKey(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		k, _ := t.(string)
		if seen[k] {
			return k
		}
		seen[k] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return ""
		}
	}
	return ""
}

// loneSurrogate reports whether the JSON text b has a \u escape of a
// surrogate (U+D800 to U+DFFF) that is not half of a high-low pair. In
// valid JSON a backslash only occurs in strings, always starting an escape,
// so the text can be scanned escape by escape.
func loneSurrogate(b []byte) bool {
	pendingHigh := false
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			if pendingHigh {
				return true
			}
			continue
		}
		if i+1 >= len(b) || b[i+1] != 'u' {
			if pendingHigh {
				return true
			}
			i++ // the escaped character, a backslash or a quote included
			continue
		}
		var r rune = -1
		if i+6 <= len(b) {
			if n, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 32); err == nil {
				r = rune(n)
			}
		}
		i += 5
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if pendingHigh {
				return true
			}
			pendingHigh = true
		case r >= 0xDC00 && r < 0xE000:
			if !pendingHigh {
				return true
			}
			pendingHigh = false
		default:
			if pendingHigh {
				return true
			}
		}
	}
	return pendingHigh
}

// list answers an array field, given as a JSON array, a JSON string,
// repeated form fields (name or name[]) or a comma-separated value.
func (p *params) list(name string) []string {
	if raw, ok := p.json[name]; ok {
		var l []string
		if err := json.Unmarshal(raw, &l); err == nil {
			return l
		}
		s, err := p.text(name)
		if err != nil {
			p.fail(tokens.Invalid(name, "must be an array of strings or a comma-separated string"))
			return nil
		}
		return []string{s}
	}
	return append(p.form[name], p.form[name+"[]"]...)
}

func (p *params) has(name string) bool {
	_, inJSON := p.json[name]
	return inJSON || p.form.Has(name)
}

// int answers an integer field; missing answers def.
func (p *params) int(name string, def int64) int64 {
	if !p.has(name) {
		return def
	}
	v := strings.TrimSpace(p.str(name))
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) && strings.Trim(strings.TrimLeft(v, "+-"), "0123456789") == "":
		p.fail(tokens.Invalid(name, "is out of range"))
	case err != nil:
		p.fail(tokens.Invalid(name, "must be an integer"))
	}
	return n
}

// bool answers a boolean field; missing answers false.
func (p *params) bool(name string) bool {
	if !p.has(name) {
		return false
	}
	b, err := strconv.ParseBool(p.str(name))
	if err != nil {
		p.fail(tokens.Invalid(name, "must be true or false"))
	}
	return b
}

// pathParam answers a path parameter decoded once. echo routes on the raw
// path, and so answers parameters still encoded, only when the request's
// path needed its raw form (it held %2F, say); otherwise on the decoded
// path, whose parameters must not be decoded again.
func pathParam(c echo.Context, name string) (string, bool) {
	v := c.Param(name)
	if c.Request().URL.RawPath == "" {
		return v, true
	}
	v, err := url.PathUnescape(v)
	return v, err == nil
}

// pathID parses a numeric path parameter.
func pathID(c echo.Context, name string, notFound error) (int64, error) {
	v, ok := pathParam(c, name)
	if id, canonical := tokens.ParseID(v); ok && canonical {
		return id, nil
	}
	if _, err := strconv.ParseInt(v, 10, 64); ok && err == nil {
		// An integer, but 0, negative, or spelt with a sign or leading
		// zeros: no record has that address.
		return 0, notFound
	}
	return 0, tokens.Invalid(name, "must be a positive integer")
}

// projectRef answers the :id path parameter: a project id or a full path.
func projectRef(c echo.Context) (string, error) {
	ref, ok := pathParam(c, "id")
	if !ok || ref == "" {
		return "", tokens.Invalid("id", "must be a project id or a URL-encoded path")
	}
	return ref, nil
}

// projectAndID answers the :id project reference and a numeric path
// parameter of one of its records.
func projectAndID(c echo.Context, name string, notFound error) (string, int64, error) {
	ref, err := projectRef(c)
	if err != nil {
		return "", 0, err
	}
	id, err := pathID(c, name, notFound)
	return ref, id, err
}
