// Package purge deletes a deleted project's images from the container
// registry, as GitLab does when a project is deleted: the registry keeps
// every image and decides access by path alone, so images left behind
// would go to whoever creates a project at that path next.
//
// It talks to the registry's HTTP API (the catalog, tag listing, manifest
// HEAD and DELETE) through go-containerregistry, with tokens it signs for
// itself with the server's registry signing key. The registry must allow
// deletes (distribution: storage.delete.enabled).
package purge

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/deploytokens/deploytokens/auth"
	"github.com/deploytokens/deploytokens/tokens"
)

// Registry deletes images from one registry. It is a tokens.Images.
type Registry struct {
	// URL is the registry's base URL (http:// or https://, no path).
	URL *url.URL
	// Signer signs the tokens the registry trusts; Service and Issuer
	// are their aud and iss.
	Signer          auth.Signer
	Service, Issuer string
	// Lifetime of those tokens: at most what the signer accepts. One is
	// signed per request, so a long purge never runs on an expired one.
	Lifetime time.Duration
	// Transport, when set, carries the requests (tests, proxies).
	Transport http.RoundTripper
}

var _ tokens.Images = (*Registry)(nil)

// Subject is the sub claim of the tokens the server signs for itself, as
// the registry logs it.
const Subject = "deploytokens-purge"

func (r *Registry) registry() (name.Registry, error) {
	var opts []name.Option
	if r.URL.Scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	return name.NewRegistry(r.URL.Host, opts...)
}

// options answers the remote options of a request granted access.
func (r *Registry) options(ctx context.Context, access ...auth.Scope) ([]remote.Option, error) {
	now := time.Now()
	var jti [16]byte
	rand.Read(jti[:])
	signed, err := r.Signer.Sign(auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: r.Issuer, Subject: Subject,
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(r.Lifetime)),
			ID: base64.RawURLEncoding.EncodeToString(jti[:]),
		},
		Audience: r.Service,
		Access:   access,
	})
	if err != nil {
		return nil, fmt.Errorf("sign registry token: %w", err)
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(&authn.Bearer{Token: signed})}
	if r.Transport != nil {
		opts = append(opts, remote.WithTransport(r.Transport))
	}
	return opts, nil
}

// Purge deletes every tagged image of the repository path and of every
// repository under path + "/". What is gone already is skipped, so a purge
// that failed half-way is retried from the start.
func (r *Registry) Purge(ctx context.Context, path string) error {
	reg, err := r.registry()
	if err != nil {
		return err
	}
	opts, err := r.options(ctx, auth.Scope{Type: "registry", Name: "catalog", Actions: []string{"*"}})
	if err != nil {
		return err
	}
	repos, err := remote.Catalog(ctx, reg, opts...)
	if err != nil {
		return fmt.Errorf("list repositories: %w", err)
	}
	// Repository names are lowercase; project paths need not be.
	path = strings.ToLower(path)
	for _, repo := range repos {
		if repo != path && !strings.HasPrefix(repo, path+"/") {
			continue
		}
		if err := r.purgeRepository(ctx, reg, repo); err != nil {
			return fmt.Errorf("repository %s: %w", repo, err)
		}
	}
	return nil
}

func (r *Registry) purgeRepository(ctx context.Context, reg name.Registry, repoName string) error {
	repo := reg.Repo(repoName)
	access := auth.Scope{Type: "repository", Name: repoName, Actions: []string{auth.ActionPull, auth.ActionDelete}}
	opts, err := r.options(ctx, access)
	if err != nil {
		return err
	}
	tags, err := remote.List(repo, opts...)
	if gone(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list tags: %w", err)
	}
	for _, tag := range tags {
		if opts, err = r.options(ctx, access); err != nil {
			return err
		}
		// Tags of one manifest go with it: a later tag may be gone.
		desc, err := remote.Head(repo.Tag(tag), opts...)
		if gone(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("manifest of %s: %w", tag, err)
		}
		if err := remote.Delete(repo.Digest(desc.Digest.String()), opts...); err != nil && !gone(err) {
			return fmt.Errorf("delete %s (%s): %w", tag, desc.Digest, err)
		}
	}
	return nil
}

// gone reports whether err says the repository or manifest does not exist.
func gone(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}
