package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// request is one prepared HTTP/1.1 request and what its answer must be.
type request struct {
	raw    []byte
	status int
	// want is a substring every answer's body must hold.
	want []byte
}

// cred is a deploy token's Basic credentials and its project.
type cred struct {
	user, secret, project string
}

func basic(c cred) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.secret))
}

// tokenGET is what docker and podman send for a pull: GET /jwt/auth with
// Basic credentials, account and one repository scope. Its answer must
// show the pull was granted, not just that a token came back.
func tokenGET(host, service string, c cred) request {
	q := url.Values{"service": {service}, "account": {c.user}, "scope": {"repository:" + c.project + ":pull"}}
	raw := fmt.Sprintf("GET /jwt/auth?%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: dtbench\r\nAuthorization: %s\r\n\r\n",
		q.Encode(), host, basic(c))
	return request{raw: []byte(raw), status: http.StatusOK, want: []byte(`"scope":"repository:` + c.project + `:pull"`)}
}

// tokenPOST is the OAuth2 form of the same request (grant_type=password).
func tokenPOST(host, service string, c cred) request {
	form := url.Values{"grant_type": {"password"}, "username": {c.user}, "password": {c.secret},
		"service": {service}, "scope": {"repository:" + c.project + ":pull"}, "client_id": {"dtbench"}}.Encode()
	raw := fmt.Sprintf("POST /jwt/auth HTTP/1.1\r\nHost: %s\r\nUser-Agent: dtbench\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
		host, len(form), form)
	return request{raw: []byte(raw), status: http.StatusOK, want: tokenGET(host, service, c).want}
}

// gitAuthOnly is the first request of a git clone or fetch, for a project
// with no repository on disk: the server authorizes it in full (ban check,
// deploy token, project) and answers 404 from the repository check,
// without starting git.
func gitAuthOnly(host string, c cred) request {
	raw := fmt.Sprintf("GET /%s.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: %s\r\nUser-Agent: git/2.39.5\r\nGit-Protocol: version=2\r\nAuthorization: %s\r\n\r\n",
		c.project, host, basic(c))
	return request{raw: []byte(raw), status: http.StatusNotFound, want: []byte("Not Found")}
}

// loadResult is what one window of load measured.
type loadResult struct {
	requests, errors int64
	elapsed          time.Duration
	// latencies of every answered request, sorted: from just before its
	// request was written until the load generator had read the answer.
	latencies durations
	firstErr  string
	bodyLen   int // of an answer that was as expected
}

func (r *loadResult) rps() float64 { return float64(r.requests) / max(r.elapsed.Seconds(), 1e-9) }

// quantile answers the q-quantile of the latencies (nearest rank), 0 of
// none.
func (r *loadResult) quantile(q float64) time.Duration {
	d := r.latencies
	if len(d) == 0 {
		return 0
	}
	return d[min(max(int(q*float64(len(d))+0.5)-1, 0), len(d)-1)]
}

type durations []time.Duration

// loadOptions bound one window of load: it ends after duration once
// minRequests were sent, after maxDuration or maxRequests in any case.
type loadOptions struct {
	concurrency                      int
	duration, maxDuration            time.Duration
	minRequests, maxRequests, offset int64 // offset: where in reqs the rotation starts
	record                           bool  // keep latencies (not during warm-up)
}

// drive sends reqs, in turn, from opts.concurrency connections that each
// wait for an answer before sending the next request (a closed loop, as
// clients pulling images do), until the window ends.
func drive(ctx context.Context, addr string, reqs []request, opts loadOptions) loadResult {
	var (
		next  atomic.Int64
		mu    sync.Mutex
		total loadResult
		wg    sync.WaitGroup
	)
	start := time.Now()
	over := func(i int64) bool {
		el := time.Since(start)
		return i >= opts.maxRequests || ctx.Err() != nil || el >= opts.maxDuration || (el >= opts.duration && i >= opts.minRequests)
	}
	for range opts.concurrency {
		wg.Go(func() {
			var res loadResult // this connection's
			w := &worker{addr: addr}
			defer w.close()
			for i := next.Add(1) - 1; !over(i); i = next.Add(1) - 1 {
				r := &reqs[(opts.offset+i)%int64(len(reqs))]
				t0 := time.Now()
				status, body, err := w.do(r.raw)
				lat := time.Since(t0)
				res.requests++
				msg := ""
				switch {
				case err != nil:
					msg = err.Error()
				case status != r.status:
					msg = fmt.Sprintf("status %d, want %d: %.200s", status, r.status, body)
				case !bytes.Contains(body, r.want):
					msg = fmt.Sprintf("answer lacks %q: %.200s", r.want, body)
				default:
					res.bodyLen = len(body)
				}
				if msg != "" {
					res.errors++
					res.firstErr = cmpStr(res.firstErr, msg)
				}
				if opts.record && err == nil {
					res.latencies = append(res.latencies, lat)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			total.requests += res.requests
			total.errors += res.errors
			total.latencies = append(total.latencies, res.latencies...)
			total.firstErr = cmpStr(total.firstErr, res.firstErr)
			total.bodyLen = max(total.bodyLen, res.bodyLen)
		})
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	slices.Sort(total.latencies)
	return total
}

// worker is one keep-alive connection.
type worker struct {
	addr string
	conn net.Conn
	br   *bufio.Reader
	body bytes.Buffer
}

func (w *worker) close() {
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
}

// do sends one request and reads its answer, reconnecting when the server
// closed the connection. It answers the status and the body (valid until
// the next call).
func (w *worker) do(raw []byte) (int, []byte, error) {
	if w.conn == nil {
		c, err := net.DialTimeout("tcp", w.addr, 5*time.Second)
		if err != nil {
			return 0, nil, err
		}
		w.conn, w.br = c, bufio.NewReaderSize(c, 32<<10)
	}
	// A server that stops answering fails the request instead of
	// holding the window open.
	_ = w.conn.SetDeadline(time.Now().Add(30 * time.Second))
	var resp *http.Response
	_, err := w.conn.Write(raw)
	if err == nil {
		resp, err = http.ReadResponse(w.br, nil)
	}
	if err == nil {
		w.body.Reset()
		_, err = w.body.ReadFrom(resp.Body)
		resp.Body.Close()
	}
	if err != nil || resp.Close {
		w.close()
	}
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, w.body.Bytes(), nil
}
