// Package purge deletes a deleted project's images from the container
// registry, as GitLab does when a project is deleted: the registry keeps
// every image and decides access by path alone, so images left behind
// would go to whoever creates a project at that path next.
//
// It talks to the registry's HTTP API (the catalog, tag listing, manifest
// GET and DELETE through go-containerregistry, blob DELETE directly), with
// tokens it signs for itself with the server's registry signing key. The
// registry must allow deletes (distribution: storage.delete.enabled).
//
// What a tag leads to is deleted: the manifest, an index's child
// manifests, and the repository's links to their config and layer blobs.
// A manifest no tag leads to any more (a tag's old manifest, once the tag
// was pushed again) can't be listed through the registry API, and stays.
package purge

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
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
	signed, err := r.token(access...)
	if err != nil {
		return nil, err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(&authn.Bearer{Token: signed})}
	if r.Transport != nil {
		opts = append(opts, remote.WithTransport(r.Transport))
	}
	return opts, nil
}

// token signs a registry token granted access.
func (r *Registry) token(access ...auth.Scope) (string, error) {
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
		return "", fmt.Errorf("sign registry token: %w", err)
	}
	return signed, nil
}

// Purge deletes every tagged image of the repository path and of every
// repository under path + "/": manifests, an index's children, and the
// repository's links to their blobs. What is gone already is skipped, so a purge
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
	rp := &repoPurge{r: r, repo: reg.Repo(repoName), seen: map[string]bool{}}
	opts, err := rp.options(ctx)
	if err != nil {
		return err
	}
	tags, err := remote.List(rp.repo, opts...)
	if gone(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list tags: %w", err)
	}
	for _, tag := range tags {
		if err := rp.manifest(ctx, rp.repo.Tag(tag)); err != nil {
			return fmt.Errorf("tag %s: %w", tag, err)
		}
	}
	return nil
}

// repoPurge deletes what the tags of one repository lead to.
type repoPurge struct {
	r    *Registry
	repo name.Repository
	// seen holds the manifests and blobs dealt with: tags and the images
	// of an index share them.
	seen map[string]bool
}

func (p *repoPurge) options(ctx context.Context) ([]remote.Option, error) {
	return p.r.options(ctx, auth.Scope{Type: "repository", Name: p.repo.RepositoryStr(), Actions: []string{auth.ActionPull, auth.ActionDelete}})
}

// manifestRefs is what a manifest refers to, whatever its media type: an
// image's config and layers, an index's manifests.
type manifestRefs struct {
	Config    *v1.Descriptor  `json:"config"`
	Layers    []v1.Descriptor `json:"layers"`
	Manifests []v1.Descriptor `json:"manifests"`
}

// manifest deletes the manifest ref names, after everything it refers to:
// deleting from the bottom up leaves a purge cut short with its root still
// tagged, so the retry, which starts again from the tags, finds the rest.
// Deleting the manifest alone would leave its children and blobs readable
// by digest to whoever owns the path next.
func (p *repoPurge) manifest(ctx context.Context, ref name.Reference) error {
	opts, err := p.options(ctx)
	if err != nil {
		return err
	}
	desc, err := remote.Get(ref, opts...)
	if gone(err) {
		return nil // deleted with an earlier tag, or by an earlier purge
	}
	if err != nil {
		return fmt.Errorf("get manifest %s: %w", ref.Identifier(), err)
	}
	digest := desc.Digest.String()
	if p.seen[digest] {
		return nil
	}
	p.seen[digest] = true
	var refs manifestRefs
	if err := json.Unmarshal(desc.Manifest, &refs); err != nil {
		return fmt.Errorf("manifest %s (%s): %w", digest, desc.MediaType, err)
	}
	for _, child := range refs.Manifests {
		if err := p.manifest(ctx, p.repo.Digest(child.Digest.String())); err != nil {
			return err
		}
	}
	blobs := refs.Layers
	if refs.Config != nil {
		blobs = append(blobs, *refs.Config)
	}
	for _, b := range blobs {
		if err := p.blob(ctx, b.Digest.String()); err != nil {
			return err
		}
	}
	if opts, err = p.options(ctx); err != nil {
		return err
	}
	if err := remote.Delete(p.repo.Digest(digest), opts...); err != nil && !gone(err) {
		return fmt.Errorf("delete manifest %s: %w", digest, err)
	}
	return nil
}

// blob deletes the repository's link to a blob. The registry keeps the
// blob itself for other repositories that link it (and for its garbage
// collector): only this repository stops answering it.
func (p *repoPurge) blob(ctx context.Context, digest string) error {
	if p.seen[digest] {
		return nil
	}
	p.seen[digest] = true
	token, err := p.r.token(auth.Scope{Type: "repository", Name: p.repo.RepositoryStr(), Actions: []string{auth.ActionDelete}})
	if err != nil {
		return err
	}
	// go-containerregistry has no blob delete; the request is the
	// registry API's own.
	u := url.URL{Scheme: p.repo.Scheme(), Host: p.repo.RegistryStr(), Path: fmt.Sprintf("/v2/%s/blobs/%s", p.repo.RepositoryStr(), digest)}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	rt := p.r.Transport
	if rt == nil {
		rt = remote.DefaultTransport
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return fmt.Errorf("delete blob %s: %w", digest, err)
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusAccepted, http.StatusNotFound); err != nil {
		return fmt.Errorf("delete blob %s: %w", digest, err)
	}
	return nil
}

// gone reports whether err says the repository or manifest does not exist.
func gone(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}
