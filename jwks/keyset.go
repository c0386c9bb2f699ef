package jwks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// storedSet is the JSON value kept under Config.StoreKey.
type storedSet struct {
	Version int         `json:"version"`
	Keys    []storedKey `json:"keys"`
	// Root, in ModeX5C only, is the key that issues the certificates of
	// Keys; it is never rotated.
	Root *storedKey `json:"root,omitempty"`
}

// storedSetVersion is the version of the stored format this package
// writes and reads.
const storedSetVersion = 1

type storedKey struct {
	KID string `json:"kid"`
	Alg string `json:"alg"`
	// PrivateKey is PKCS #8 PEM; SealedPrivateKey the same sealed by
	// Config.Sealer. One of them is set.
	PrivateKey       string     `json:"private_key,omitempty"`
	SealedPrivateKey []byte     `json:"sealed_private_key,omitempty"`
	Cert             string     `json:"cert"`
	CreatedAt        time.Time  `json:"created_at"`
	ActivateAt       time.Time  `json:"activate_at"`
	RetireAfter      *time.Time `json:"retire_after,omitempty"`
}

// keySetStore keeps the storedSet under one key of a KeyStore. The JSON
// encoding and the bytes a compare-and-swap needs stay here, so a Manager
// reads and replaces sets.
type keySetStore struct {
	kv         KeyStore
	key        string
	isNotFound func(error) bool
}

// errNoKeySet means no replica has stored a set yet.
var errNoKeySet = errors.New("no key set stored")

// revision is a stored set as read. It keeps the bytes it was read from:
// a compare-and-swap must name them as the old value, and comparing them
// is how a reload tells that nothing changed.
type revision struct {
	set storedSet
	raw []byte
}

// same reports whether r and o are the same stored value.
func (r revision) same(o revision) bool { return r.raw != nil && bytes.Equal(r.raw, o.raw) }

// load answers the stored set, or errNoKeySet.
func (s keySetStore) load(ctx context.Context) (revision, error) {
	raw, err := s.kv.Get(ctx, s.key)
	switch {
	case err == nil:
		return decodeSet(raw)
	case s.isNotFound(err):
		return revision{}, errNoKeySet
	default:
		return revision{}, fmt.Errorf("read key set: %w", err)
	}
}

// create stores set where none is. When another replica stored one first
// (or the write landed but its answer was lost) it answers what is stored
// then, with created false.
func (s keySetStore) create(ctx context.Context, set storedSet) (r revision, created bool, err error) {
	next, err := encodeSet(set)
	if err != nil {
		return revision{}, false, err
	}
	if err := s.kv.CompareAndSwap(ctx, s.key, nil, next.raw); err != nil {
		raw, gerr := s.kv.Get(ctx, s.key)
		if gerr != nil {
			return revision{}, false, fmt.Errorf("create key set: %w", err)
		}
		cur, derr := decodeSet(raw)
		return cur, false, derr
	}
	return next, true, nil
}

// swap replaces old with set and answers the new revision;
// ErrKeySetChanged when another replica replaced old first.
func (s keySetStore) swap(ctx context.Context, old revision, set storedSet) (revision, error) {
	next, err := encodeSet(set)
	if err != nil {
		return revision{}, err
	}
	if err := s.kv.CompareAndSwap(ctx, s.key, old.raw, next.raw); err != nil {
		// The error alone does not tell a lost race from a lost answer or
		// a failed write: what is stored now does.
		cur, gerr := s.kv.Get(ctx, s.key)
		switch {
		case gerr != nil:
			return revision{}, fmt.Errorf("swap key set: %w", err)
		case bytes.Equal(cur, next.raw):
			return next, nil
		case !bytes.Equal(cur, old.raw):
			return revision{}, ErrKeySetChanged
		default:
			return revision{}, fmt.Errorf("swap key set: %w", err)
		}
	}
	return next, nil
}

func encodeSet(set storedSet) (revision, error) {
	raw, err := json.Marshal(set)
	if err != nil {
		return revision{}, fmt.Errorf("encode key set: %w", err)
	}
	return revision{set: set, raw: raw}, nil
}

func decodeSet(raw []byte) (revision, error) {
	var set storedSet
	if err := json.Unmarshal(raw, &set); err != nil {
		return revision{}, fmt.Errorf("stored key set is malformed: %w", err)
	}
	if set.Version != storedSetVersion {
		return revision{}, fmt.Errorf("stored key set has version %d, want %d", set.Version, storedSetVersion)
	}
	return revision{set: set, raw: raw}, nil
}
