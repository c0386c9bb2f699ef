package metrics

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// algs are the algorithms the server signs with (jwks).
var algs = []string{"ES256", "RS256", "EdDSA"}

// Signer signs a registry token; auth.Signer and jwks.Manager are ones.
type Signer interface {
	Sign(claims jwt.Claims) (string, error)
}

// CountTokens answers next counting every token it signs by algorithm,
// read from the token's own header: the key that signs can change with a
// rotation, to one of another algorithm.
func (m *Metrics) CountTokens(next Signer) Signer {
	return &countingSigner{next: next, m: m}
}

type countingSigner struct {
	next Signer
	m    *Metrics
	// last is the header of the last token and its counter: a key's
	// tokens all have the same header, so it is decoded once a key.
	last atomic.Pointer[headerCounter]
}

type headerCounter struct {
	header string
	c      prometheus.Counter
}

func (s *countingSigner) Sign(claims jwt.Claims) (string, error) {
	token, err := s.next.Sign(claims)
	if err != nil {
		return token, err
	}
	header, _, _ := strings.Cut(token, ".")
	last := s.last.Load()
	if last == nil || last.header != header {
		last = &headerCounter{header: header, c: s.m.tokens.WithLabelValues(algOf(header))}
		s.last.Store(last)
	}
	last.c.Inc()
	return token, nil
}

// algOf answers the alg of an encoded JOSE header, "other" for one not
// among algs.
func algOf(header string) string {
	raw, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		return "other"
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(raw, &h) != nil || !slices.Contains(algs, h.Alg) {
		return "other"
	}
	return h.Alg
}
