package purge

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/deploytokens/deploytokens/auth"
	"github.com/deploytokens/deploytokens/internal/testenv"
)

const (
	testService = "registry-test"
	testIssuer  = "deploytokens-test"
	testKid     = "purge-test"
)

// es256Signer signs as the server's key manager does, with a key the
// registry's JWKS names.
type es256Signer struct{ key *ecdsa.PrivateKey }

func (s es256Signer) Sign(c jwt.Claims) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["kid"] = testKid
	return tok.SignedString(s.key)
}

// startRegistry starts the real registry trusting a key made here, and
// answers a Registry that purges it through rt (nil: directly).
func startRegistry(t *testing.T) (*testenv.Registry, *Registry) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := key.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	p := pub.Bytes() // 0x04 || X || Y
	jwks, err := json.Marshal(map[string]any{"keys": []any{map[string]any{
		"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": testKid,
		"x": base64.RawURLEncoding.EncodeToString(p[1:33]), "y": base64.RawURLEncoding.EncodeToString(p[33:]),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	reg := testenv.StartRegistry(t, testenv.RegistryConfig{
		// Never asked: every token here is signed by the test.
		Realm: "http://localhost:1/jwt/auth", Service: testService, Issuer: testIssuer,
		JWKSFile: jwksFile, SigningAlgorithms: []string{"ES256"},
	})
	u, _ := url.Parse("http://" + reg.Host())
	return reg, &Registry{URL: u, Signer: es256Signer{key}, Service: testService, Issuer: testIssuer, Lifetime: 5 * time.Minute}
}

// remoteOpts grants every action on repo, as the owner's push token would.
func remoteOpts(t *testing.T, r *Registry, repo string) []remote.Option {
	t.Helper()
	tok, err := r.token(auth.Scope{Type: "repository", Name: repo, Actions: []string{auth.ActionPull, auth.ActionPush}})
	if err != nil {
		t.Fatal(err)
	}
	return []remote.Option{remote.WithContext(t.Context()), remote.WithAuth(&authn.Bearer{Token: tok})}
}

// pushed is what one push wrote: the manifests (an index first) and the
// blobs the registry must stop answering for the repository.
type pushed struct {
	repo      string
	manifests []v1.Hash
	blobs     []v1.Hash
}

func imageParts(t *testing.T, img v1.Image) ([]v1.Hash, []v1.Hash) {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	blobs := []v1.Hash{m.Config.Digest}
	for _, l := range m.Layers {
		blobs = append(blobs, l.Digest)
	}
	return []v1.Hash{d}, blobs
}

// pushImage pushes img to repo under each tag.
func pushImage(t *testing.T, r *Registry, repo string, img v1.Image, tags ...string) pushed {
	t.Helper()
	for _, tag := range tags {
		ref, err := name.ParseReference(r.URL.Host+"/"+repo+":"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img, remoteOpts(t, r, repo)...); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
	}
	ms, bs := imageParts(t, img)
	return pushed{repo: repo, manifests: ms, blobs: bs}
}

// pushIndex pushes a two-platform index of imgs to repo:tag.
func pushIndex(t *testing.T, r *Registry, repo, tag string, imgs ...v1.Image) pushed {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	p := pushed{repo: repo}
	for i, img := range imgs {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "linux", Architecture: []string{"amd64", "arm64", "s390x"}[i%3]},
		}})
		ms, bs := imageParts(t, img)
		p.manifests = append(p.manifests, ms...)
		p.blobs = append(p.blobs, bs...)
	}
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	p.manifests = append([]v1.Hash{d}, p.manifests...)
	ref, err := name.ParseReference(r.URL.Host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx, remoteOpts(t, r, repo)...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return p
}

func randomImage(t *testing.T, extra ...v1.Layer) v1.Image {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.AppendLayers(img, extra...); err != nil {
		t.Fatal(err)
	}
	return img
}

// get asks the registry for /v2/<repo>/<kind>/<ref> with a pull token,
// and answers the status and the first error code of the body.
func get(t *testing.T, r *Registry, repo, kind, ref string) (int, string) {
	t.Helper()
	tok, err := r.token(auth.Scope{Type: "repository", Name: repo, Actions: []string{auth.ActionPull}})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, fmt.Sprintf("%s/v2/%s/%s/%s", r.URL, repo, kind, ref), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", strings.Join([]string{string(types.OCIImageIndex), string(types.OCIManifestSchema1),
		string(types.DockerManifestList), string(types.DockerManifestSchema2)}, ", "))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK && json.Unmarshal(b, &body) == nil && len(body.Errors) > 0 {
		return resp.StatusCode, body.Errors[0].Code
	}
	return resp.StatusCode, ""
}

// checkGone asserts that p's tags, manifests and blobs all answer 404.
func checkGone(t *testing.T, r *Registry, p pushed, tags ...string) {
	t.Helper()
	for _, tag := range tags {
		if status, code := get(t, r, p.repo, "manifests", tag); status != http.StatusNotFound || code != "MANIFEST_UNKNOWN" {
			t.Errorf("%s:%s answers %d %s, want 404 MANIFEST_UNKNOWN", p.repo, tag, status, code)
		}
	}
	for _, m := range p.manifests {
		if status, code := get(t, r, p.repo, "manifests", m.String()); status != http.StatusNotFound || code != "MANIFEST_UNKNOWN" {
			t.Errorf("%s@%s answers %d %s, want 404 MANIFEST_UNKNOWN", p.repo, m, status, code)
		}
	}
	for _, b := range p.blobs {
		if status, code := get(t, r, p.repo, "blobs", b.String()); status != http.StatusNotFound || code != "BLOB_UNKNOWN" {
			t.Errorf("blob %s of %s answers %d %s, want 404 BLOB_UNKNOWN", b, p.repo, status, code)
		}
	}
}

// checkThere asserts that p's manifests and blobs all answer 200.
func checkThere(t *testing.T, r *Registry, p pushed) {
	t.Helper()
	for _, m := range p.manifests {
		if status, code := get(t, r, p.repo, "manifests", m.String()); status != http.StatusOK {
			t.Errorf("%s@%s answers %d %s, want 200", p.repo, m, status, code)
		}
	}
	for _, b := range p.blobs {
		if status, code := get(t, r, p.repo, "blobs", b.String()); status != http.StatusOK {
			t.Errorf("blob %s of %s answers %d %s, want 200", b, p.repo, status, code)
		}
	}
}

// cutShort fails every request after the first n DELETEs, standing for a
// registry lost in the middle of a purge.
type cutShort struct {
	n       int64
	deletes atomic.Int64
}

var errCut = errors.New("registry lost")

func (c *cutShort) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodDelete && c.deletes.Add(1) > c.n {
		return nil, errCut
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestPurge pushes what a project's owner may push (a multi-platform
// index, a plain image under two tags, a nested repository), purges the
// project's path and checks that nothing of it is readable any more, by
// tag or by digest, while the repositories beside it, one sharing a layer,
// still pull. A purge cut short by a lost registry leaves what the retry
// needs to finish.
func TestPurge(t *testing.T) {
	reg, r := startRegistry(t)
	tests := []struct {
		name string
		// cutAfter, when set, loses the registry after that many DELETEs
		// of the first purge; the second finishes.
		cutAfter int64
	}{
		{name: "at once"},
		{name: "cut short after the first delete", cutAfter: 1},
		{name: "cut short inside the index", cutAfter: 5},
		{name: "cut short between repositories", cutAfter: 8},
		{name: "cut short before the last manifest", cutAfter: 10},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := fmt.Sprintf("ns%d", i)
			shared, err := random.Layer(256, types.DockerLayer)
			if err != nil {
				t.Fatal(err)
			}
			index := pushIndex(t, r, ns+"/img", "v1", randomImage(t, shared), randomImage(t))
			plain := pushImage(t, r, ns+"/img/sub", randomImage(t), "v1", "latest")
			beside := pushImage(t, r, ns+"/img2", randomImage(t), "v1")
			other := pushImage(t, r, "other"+ns+"/app", randomImage(t, shared), "v1")
			for _, p := range []pushed{index, plain, beside, other} {
				checkThere(t, r, p)
			}

			if tt.cutAfter > 0 {
				cut := *r
				cut.Transport = &cutShort{n: tt.cutAfter}
				if err := cut.Purge(t.Context(), ns+"/img"); !errors.Is(err, errCut) {
					t.Fatalf("purge through a registry lost after %d deletes: %v", tt.cutAfter, err)
				}
			}
			// The project's path as written; repositories are lowercase.
			if err := r.Purge(t.Context(), strings.ToUpper(ns)+"/Img"); err != nil {
				t.Fatalf("Purge: %v\nregistry log:\n%s", err, reg.Log())
			}
			checkGone(t, r, index, "v1")
			checkGone(t, r, plain, "v1", "latest")
			// Deleting what is gone already is not an error.
			if err := r.Purge(t.Context(), ns+"/img"); err != nil {
				t.Fatalf("Purge again: %v", err)
			}
			for _, p := range []pushed{beside, other} {
				checkThere(t, r, p)
				ref, err := name.ParseReference(r.URL.Host+"/"+p.repo+":v1", name.Insecure)
				if err != nil {
					t.Fatal(err)
				}
				img, err := remote.Image(ref, remoteOpts(t, r, p.repo)...)
				if err != nil {
					t.Fatalf("pull %s: %v", ref, err)
				}
				if err := readLayers(img); err != nil {
					t.Errorf("pull %s: %v", ref, err)
				}
			}
		})
	}
}

// readLayers reads every layer of img to its end: go-containerregistry
// checks each against its digest.
func readLayers(img v1.Image) error {
	ls, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range ls {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
