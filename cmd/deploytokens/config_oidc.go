package main

import (
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// validateOIDC checks the OIDC federation settings and fills oidcIssuers.
// An issuer is https, or http on a loopback host (a provider on the same
// machine, as in tests): its keys decide who may pull, so they must not be
// fetched over a network in the clear.
func (c *Config) validateOIDC(bad func(name, format string, args ...any)) {
	c.oidcIssuers = nil
	for _, iss := range strings.Split(c.OIDCIssuers, ",") {
		iss = strings.TrimSpace(iss)
		if iss == "" {
			continue
		}
		u, err := url.Parse(iss)
		switch {
		case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			bad("oidc-issuers", "%q is not an issuer URL (scheme://host[/path], no query, fragment or user)", iss)
		case u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname())):
			bad("oidc-issuers", "%q: an issuer must be https (http only on a loopback host)", iss)
		case slices.Contains(c.oidcIssuers, iss):
			bad("oidc-issuers", "%q is given twice", iss)
		default:
			c.oidcIssuers = append(c.oidcIssuers, iss)
		}
	}
	if c.OIDCMaxAge < time.Minute || c.OIDCMaxAge > 7*24*time.Hour {
		bad("oidc-max-age", "must be between 1m and 168h")
	}
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
