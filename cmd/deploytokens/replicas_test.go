package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
)

// call sends one request to a process and answers the status and body.
func (p *process) call(t *testing.T, method, path, privateToken, body string, basic ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, p.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if privateToken != "" {
		req.Header.Set("PRIVATE-TOKEN", privateToken)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// lookupCount answers how many HGETALLs the redis-server at url has run:
// two in every deploy token lookup script, none in the caches' reads of
// the generation.
func lookupCount(t *testing.T, url string) int64 {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	info, err := c.Info(t.Context(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for line := range strings.SplitSeq(info, "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_hgetall:calls="); ok {
			calls, _, _ := strings.Cut(rest, ",")
			n, _ = strconv.ParseInt(calls, 10, 64)
		}
	}
	return n
}

// pull asks p for a pull token of project with a deploy token's credentials.
func (p *process) pull(t *testing.T, project, user, pass string) int {
	t.Helper()
	st, _ := p.call(t, "GET", "/jwt/auth?service=container_registry&scope=repository:"+project+":pull", "", "", user, pass)
	return st
}

// refusedWithin asks until want is answered and reports how long that took
// after since; it fails the test when a second passes first, and when a
// later answer is not want again.
func refusedWithin(t *testing.T, since time.Time, what string, want int, ask func() int) {
	t.Helper()
	for {
		st := ask()
		if st == want {
			break
		}
		if st != 200 {
			t.Fatalf("%s: answered %d before %d", what, st, want)
		}
		if time.Since(since) > time.Second {
			t.Fatalf("%s: the other replica still answers 200 a second after the change", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%s: the other replica refused %v after the change", what, time.Since(since).Round(time.Millisecond))
	for range 5 {
		if st := ask(); st != want {
			t.Fatalf("%s: answered %d after %d", what, st, want)
		}
	}
}

// TestReplicasSeeChangesWithinASecond: two deploytokens processes on one
// redis-server, each with its hot-path cache on (the default). A token one
// replica has used (so has cached) stops working on it within a second of
// its revocation through the other; so do a deleted project's tokens, and
// an address banned through the other replica is refused.
func TestReplicasSeeChangesWithinASecond(t *testing.T) {
	redisURL := testenv.StartRedis(t)
	admin, _ := tokens.Generate(tokens.PATSecret)
	dirA := t.TempDir()
	env := []string{"DEPLOYTOKENS_REDIS_URL=" + redisURL, "DEPLOYTOKENS_AUTH_MAX_FAILURES=20"}
	a := startProcess(t, dirA, admin.Reveal(), env...)
	b := startProcess(t, t.TempDir(), admin.Reveal(), append(env, "DEPLOYTOKENS_SECRET_FILE="+filepath.Join(dirA, "secret"))...)

	type token struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
		Token    string `json:"token"`
	}
	newToken := func(project string) token {
		t.Helper()
		if st, body := a.call(t, "POST", "/api/v4/projects/"+strings.ReplaceAll(project, "/", "%2F")+"/deploy_tokens", admin.Reveal(),
			`{"name":"ci","scopes":["read_registry"]}`); st != 201 {
			t.Fatalf("create token: %d %s", st, body)
		} else {
			var tk token
			if err := json.Unmarshal(body, &tk); err != nil {
				t.Fatal(err)
			}
			return tk
		}
		return token{}
	}
	for _, path := range []string{"app", "gone"} {
		if st, body := a.call(t, "POST", "/api/v4/projects", admin.Reveal(), fmt.Sprintf(`{"path":%q,"namespace_path":"tanuki"}`, path)); st != 201 {
			t.Fatalf("create project: %d %s", st, body)
		}
	}
	revoked, kept, gone := newToken("tanuki/app"), newToken("tanuki/app"), newToken("tanuki/gone")
	// use has b pull with tk until b answers it from its cache: its
	// requests stop showing in Redis' command counts.
	use := func(project string, tk token) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			before := lookupCount(t, redisURL)
			for range 3 {
				if st := b.pull(t, project, tk.Username, tk.Token); st != 200 {
					t.Fatalf("replica b before the change: %d", st)
				}
			}
			if lookupCount(t, redisURL) == before {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("replica b does not answer a token it used from its cache")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	use("tanuki/app", revoked)
	use("tanuki/app", kept)
	use("tanuki/gone", gone)

	if st, body := a.call(t, "DELETE", fmt.Sprintf("/api/v4/projects/tanuki%%2Fapp/deploy_tokens/%d", revoked.ID), admin.Reveal(), ""); st != 204 {
		t.Fatalf("revoke: %d %s", st, body)
	}
	refusedWithin(t, time.Now(), "revoked token", 401, func() int { return b.pull(t, "tanuki/app", revoked.Username, revoked.Token) })
	if st := b.pull(t, "tanuki/app", kept.Username, kept.Token); st != 200 {
		t.Fatalf("another token of the project after the revocation: %d", st)
	}

	use("tanuki/gone", gone)
	use("tanuki/app", kept)
	if st, body := a.call(t, "DELETE", "/api/v4/projects/tanuki%2Fgone", admin.Reveal(), ""); st != 202 && st != 204 {
		t.Fatalf("delete project: %d %s", st, body)
	}
	refusedWithin(t, time.Now(), "deleted project's token", 401, func() int { return b.pull(t, "tanuki/gone", gone.Username, gone.Token) })

	use("tanuki/app", kept)
	// Both processes see the client as 127.0.0.1: failures on a (with the
	// refusals above) ban it on b.
	for i := 0; ; i++ {
		st := a.pull(t, "tanuki/app", kept.Username, "dtd_"+strings.Repeat("a", 32))
		if st == 429 {
			break
		}
		if st != 401 || i == 20 {
			t.Fatalf("wrong secret on a, attempt %d: %d", i+1, st)
		}
	}
	refusedWithin(t, time.Now(), "banned address", 429, func() int { return b.pull(t, "tanuki/app", kept.Username, kept.Token) })
}
