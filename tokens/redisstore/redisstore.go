package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/cache"
)

// DefaultPrefix starts every key when Options.Prefix is empty.
const DefaultPrefix = "deploytokens:"

// hashTag follows the prefix in every key so that all keys live in one
// Redis Cluster slot and multi-key scripts and transactions are allowed.
const hashTag = "{dt}:"

// Options configure New.
type Options struct {
	// URL names the server(s); see the package documentation for the forms.
	URL string
	// Prefix starts every key; DefaultPrefix when empty.
	Prefix string
	// Hooks are added to the client, so the caller can observe every
	// round trip (metrics) without the store knowing of them.
	Hooks []redis.Hook
}

// Store is the Redis tokens.Store. It is safe for concurrent use.
type Store struct {
	c    redis.UniversalClient
	base string // prefix + hashTag
	// stopWatch ends watchReplicas (replicated.go).
	stopWatch context.CancelFunc
}

var (
	_ tokens.Store = (*Store)(nil)
	_ cache.Source = (*Store)(nil)
)

// New connects to the Redis named by opts.URL and checks that it answers;
// the error wraps tokens.ErrUnavailable when it does not.
func New(ctx context.Context, opts Options) (*Store, error) {
	c, err := newClient(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	s := NewFromClient(c, opts)
	if err := refuseClusterNode(ctx, s.c); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := s.fillPaths(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := s.fillAdminIndexes(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := s.fillPageIndexes(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := s.fillTokenUsernames(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := s.fillActiveTokens(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := s.migrateDeadPaths(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := s.writeDecoy(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	var watch context.Context
	watch, s.stopWatch = context.WithCancel(context.Background())
	go s.watchReplicas(watch)
	return s, nil
}

// filled reports whether the fill that marker marks has run on this
// database: every fill of an index added after data was written runs once
// per database and sets its marker when done.
func (s *Store) filled(ctx context.Context, op, marker string) (bool, error) {
	n, err := s.c.Exists(ctx, marker).Result()
	if err != nil {
		return false, wrap(op, err)
	}
	return n == 1, nil
}

// lastID answers the highest ID of kind handed out so far (0: none): the
// fills read IDs 1 up to it rather than scanning the keyspace.
func (s *Store) lastID(ctx context.Context, kind string) (int64, error) {
	n, err := s.c.Get(ctx, s.key("n", kind)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
}

// fillPaths adds the paths of projects created before the sorted set of
// paths (pz) existed to it, once per database (pz:filled marks it done), so
// that the create script refuses a project above one of them too. It reads
// in batches and pipelines, never holding Redis in one long script;
// replicas starting together each add the same members. Until it is done,
// the service's own check (which lists every project) covers those paths.
func (s *Store) fillPaths(ctx context.Context) error {
	const op = "fill the project paths set"
	marker := s.key("pz", "filled")
	if done, err := s.filled(ctx, op, marker); done || err != nil {
		return err
	}
	var cursor uint64
	for {
		ids, next, err := s.c.SScan(ctx, s.key("ps"), cursor, "", 1000).Result()
		if err != nil {
			return wrap(op, err)
		}
		pipe := s.c.Pipeline()
		paths := make([]*redis.StringCmd, len(ids))
		for i, id := range ids {
			paths[i] = pipe.HGet(ctx, s.key("p", id), fPathWithNS)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return wrap(op, err)
		}
		var members []redis.Z
		for _, p := range paths {
			if path, err := p.Result(); err == nil {
				members = append(members, redis.Z{Member: fold(path)})
			}
		}
		if len(members) > 0 {
			if err := s.c.ZAdd(ctx, s.key("pz"), members...).Err(); err != nil {
				return wrap(op, err)
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	return wrap(op, s.c.Set(ctx, marker, 1, 0).Err())
}

// NewFromClient answers a Store over an existing client, configured by opts
// but for opts.URL. The Store owns c: Close closes it.
func NewFromClient(c redis.UniversalClient, opts Options) *Store {
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if c != nil {
		c.AddHook(budgetHook{})
		if cc, ok := c.(*redis.ClusterClient); ok {
			c.AddHook(reloadHook{cc})
		}
	}
	for _, h := range opts.Hooks {
		c.AddHook(h)
	}
	return &Store{c: c, base: prefix + hashTag}
}

// CheckURL reports whether rawURL is a Redis URL the store can use, as New
// would read it, without connecting. Its errors never repeat the URL, which
// may hold a password.
func CheckURL(rawURL string) error {
	if _, err := url.Parse(rawURL); err != nil {
		return errors.New("is not a URL")
	}
	c, err := newClient(rawURL)
	if err != nil {
		return err
	}
	return c.Close()
}

func newClient(rawURL string) (redis.UniversalClient, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, errors.New("redis url has no scheme")
	}
	switch scheme {
	case "redis", "rediss", "unix":
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, err
		}
		o.ContextTimeoutEnabled = true
		return redis.NewClient(o), nil
	case "redis+sentinel", "rediss+sentinel":
		o, err := redis.ParseFailoverURL(strings.TrimSuffix(scheme, "+sentinel") + "://" + rest)
		if err != nil {
			return nil, err
		}
		if o.MasterName == "" {
			return nil, errors.New("redis+sentinel url needs master_name")
		}
		o.ContextTimeoutEnabled = true
		return redis.NewFailoverClient(o), nil
	case "redis+cluster", "rediss+cluster":
		o, err := redis.ParseClusterURL(strings.TrimSuffix(scheme, "+cluster") + "://" + rest)
		if err != nil {
			return nil, err
		}
		o.ContextTimeoutEnabled = true
		return redis.NewClusterClient(o), nil
	}
	return nil, fmt.Errorf("unsupported redis url scheme %q", scheme)
}

// key builds every key name of the store: base, then parts joined by ":".
// Scripts get key templates from here too (a last part of "" leaves the
// trailing ":" to which the script appends an ID).
func (s *Store) key(parts ...string) string {
	// Every lookup builds keys: the common forms take one allocation.
	switch len(parts) {
	case 1:
		return s.base + parts[0]
	case 2:
		return s.base + parts[0] + ":" + parts[1]
	}
	return s.base + strings.Join(parts, ":")
}

func (s *Store) idKey(kind string, id int64) string {
	return s.key(kind, strconv.FormatInt(id, 10))
}

// Ping reports whether the Redis node holding the data answers: it reads
// a key under the store's hash tag, which a Cluster routes to the master of
// the store's slot. A bare PING is answered by any node, a dead master's
// peers included, and would call ready a store no request can use.
func (s *Store) Ping(ctx context.Context) error {
	return wrap("ping", s.c.Exists(ctx, s.key("gen")).Err())
}

// DurabilityWarning answers why an acknowledged write could be lost if
// Redis itself crashed, or "" when Redis syncs its append-only file on
// every write (appendonly yes, appendfsync always). Redis's defaults keep
// only periodic snapshots. What Redis will not say (a managed Redis may
// refuse CONFIG) is not guessed at.
func (s *Store) DurabilityWarning(ctx context.Context) (string, error) {
	info, err := s.c.Info(ctx, "persistence").Result()
	if err != nil {
		return "", wrap("info persistence", err)
	}
	if !strings.Contains(info, "aof_enabled:1") {
		return "Redis has no append-only file (appendonly no): a crash of Redis loses the writes since its last snapshot; set appendonly yes and appendfsync always", nil
	}
	cfg, err := s.c.ConfigGet(ctx, "appendfsync").Result()
	if err != nil {
		return "", nil
	}
	if v, ok := cfg["appendfsync"]; ok && v != "always" {
		return "Redis syncs its append-only file with appendfsync " + strconv.Quote(v) + ", not always: a crash of the machine Redis runs on loses the writes not yet synced (up to a second with everysec); set appendfsync always", nil
	}
	return "", nil
}

// Close closes the client.
func (s *Store) Close() error {
	if s.stopWatch != nil {
		s.stopWatch()
	}
	return s.c.Close()
}

// wrap translates a client error into the store's sentinel errors, naming
// the operation.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("%s: %w", op, tokens.ErrNotFound)
	case unavailable(err):
		return fmt.Errorf("%s: %w: %w", op, tokens.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unavailable reports whether err means Redis could not serve the request
// now (as opposed to a bug or a bad record), so callers answer 503 and
// retry later.
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		// The caller gave up; that says nothing about Redis.
		return false
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, redis.ErrPoolTimeout),
		errors.Is(err, redis.ErrPoolExhausted),
		errors.Is(err, redis.ErrClosed):
		return true
	}
	for _, prefix := range []string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "BUSY", "NOREPLICAS", "MAXCLIENTS"} {
		if redis.HasErrorPrefix(err, prefix) {
			return true
		}
	}
	return false
}

// Dump answers every key of the store with its value flattened to bytes
// (strings as they are; hash fields and values, set and sorted set members
// each followed by a newline). It is for tests that check what is stored.
func (s *Store) Dump(ctx context.Context) (map[string][]byte, error) {
	out := map[string][]byte{}
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		it := c.Scan(ctx, 0, globEscape(s.base)+"*", 1000).Iterator()
		for it.Next(ctx) {
			k := it.Val()
			v, err := dumpValue(ctx, c, k)
			if err != nil {
				return err
			}
			out[k] = v
		}
		return it.Err()
	}
	var err error
	if cc, ok := s.c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.c)
	}
	if err != nil {
		return nil, wrap("dump", err)
	}
	return out, nil
}

func dumpValue(ctx context.Context, c redis.UniversalClient, k string) ([]byte, error) {
	typ, err := c.Type(ctx, k).Result()
	if err != nil {
		return nil, err
	}
	var b []byte
	switch typ {
	case "none": // expired since the scan saw it
	case "string":
		return c.Get(ctx, k).Bytes()
	case "hash":
		m, err := c.HGetAll(ctx, k).Result()
		if err != nil {
			return nil, err
		}
		for f, v := range m {
			b = append(append(append(append(b, f...), '\n'), v...), '\n')
		}
	case "set":
		m, err := c.SMembers(ctx, k).Result()
		if err != nil {
			return nil, err
		}
		for _, v := range m {
			b = append(append(b, v...), '\n')
		}
	case "zset":
		m, err := c.ZRange(ctx, k, 0, -1).Result()
		if err != nil {
			return nil, err
		}
		for _, v := range m {
			b = append(append(b, v...), '\n')
		}
	default:
		return nil, fmt.Errorf("key %q has unexpected type %s", k, typ)
	}
	return b, nil
}

// globEscape quotes the characters SCAN MATCH treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
