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
	"strconv"
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
// Basic credentials, account and one repository scope.
func tokenGET(host, service string, c cred) request {
	q := url.Values{"service": {service}, "account": {c.user}, "scope": {"repository:" + c.project + ":pull"}}
	raw := fmt.Sprintf("GET /jwt/auth?%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: dtbench\r\nAuthorization: %s\r\n\r\n",
		q.Encode(), host, basic(c))
	return request{raw: []byte(raw), status: http.StatusOK, want: grantedScope(c.project)}
}

// tokenPOST is the OAuth2 form of the same request (grant_type=password).
func tokenPOST(host, service string, c cred) request {
	form := url.Values{"grant_type": {"password"}, "username": {c.user}, "password": {c.secret},
		"service": {service}, "scope": {"repository:" + c.project + ":pull"}, "client_id": {"dtbench"}}.Encode()
	raw := fmt.Sprintf("POST /jwt/auth HTTP/1.1\r\nHost: %s\r\nUser-Agent: dtbench\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
		host, len(form), form)
	return request{raw: []byte(raw), status: http.StatusOK, want: grantedScope(c.project)}
}

// grantedScope is the part of a token answer that shows the pull was
// granted, not just that a token came back.
func grantedScope(project string) []byte {
	return []byte(`"scope":"repository:` + project + `:pull"`)
}

// gitInfoRefs is the first request of a git clone or fetch.
func gitInfoRefs(host string, c cred, status int, want string) request {
	raw := fmt.Sprintf("GET /%s.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: %s\r\nUser-Agent: git/2.39.5\r\nGit-Protocol: version=2\r\nAuthorization: %s\r\n\r\n",
		c.project, host, basic(c))
	return request{raw: []byte(raw), status: status, want: []byte(want)}
}

// plainGET is a request without credentials.
func plainGET(host, path string, want string) request {
	raw := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: dtbench\r\n\r\n", path, host)
	return request{raw: []byte(raw), status: http.StatusOK, want: []byte(want)}
}

// loadResult is what one window of load measured.
type loadResult struct {
	requests int64
	errors   int64
	elapsed  time.Duration
	// latencies of every answered request, sorted: from just before its
	// request was written until the load generator had read the answer.
	latencies durations
	// atSocket are the same requests' latencies until the answer reached
	// the load generator's socket (the kernel's receive time), sorted:
	// without the time the load generator itself waited for a core.
	atSocket durations
	firstErr string
	// bodyLen is the length of one answer's body.
	bodyLen int
}

func (r *loadResult) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

// quantile answers the q-quantile of the latencies.
func (r *loadResult) quantile(q float64) time.Duration { return r.latencies.quantile(q) }

// durations are sorted latencies.
type durations []time.Duration

// quantile answers the q-quantile (nearest rank), 0 of none.
func (d durations) quantile(q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(q*float64(len(d))+0.5) - 1
	return d[min(max(i, 0), len(d)-1)]
}

// loadOptions bound one window of load.
type loadOptions struct {
	concurrency int
	// The window ends after duration once minRequests were sent, after
	// maxDuration or maxRequests in any case.
	duration    time.Duration
	maxDuration time.Duration
	minRequests int64
	maxRequests int64
	// offset is where in reqs the rotation starts.
	offset int64
	// record keeps latencies (not during warm-up).
	record bool
}

// drive sends reqs, in turn, from opts.concurrency connections that each
// wait for an answer before sending the next request (a closed loop, as
// clients pulling images do), until the window ends.
func drive(ctx context.Context, addr string, reqs []request, opts loadOptions) loadResult {
	var (
		next     atomic.Int64
		done     atomic.Int64
		errs     atomic.Int64
		mu       sync.Mutex
		all      durations
		atSocket durations
		firstErr string
		bodyLen  atomic.Int64
		wg       sync.WaitGroup
	)
	fail := func(msg string) {
		errs.Add(1)
		mu.Lock()
		if firstErr == "" {
			firstErr = msg
		}
		mu.Unlock()
	}
	start := time.Now()
	over := func(i int64) bool {
		if i >= opts.maxRequests || ctx.Err() != nil {
			return true
		}
		el := time.Since(start)
		return el >= opts.maxDuration || (el >= opts.duration && i >= opts.minRequests)
	}
	for range opts.concurrency {
		wg.Go(func() {
			var lats, socks durations
			if opts.record {
				lats = make(durations, 0, 4096)
				socks = make(durations, 0, 4096)
			}
			w := &worker{addr: addr}
			defer w.close()
			for {
				i := next.Add(1) - 1
				if over(i) {
					break
				}
				r := &reqs[(opts.offset+i)%int64(len(reqs))]
				t0 := time.Now()
				status, body, received, err := w.do(r.raw)
				lat := time.Since(t0)
				done.Add(1)
				switch {
				case err != nil:
					fail(err.Error())
				case status != r.status:
					fail(fmt.Sprintf("status %d, want %d: %.200s", status, r.status, body))
				case !bytes.Contains(body, r.want):
					fail(fmt.Sprintf("answer lacks %q: %.200s", r.want, body))
				default:
					bodyLen.Store(int64(len(body)))
				}
				if opts.record && err == nil {
					lats = append(lats, lat)
					// The receive time is the kernel's wall clock:
					// compare it with t0's.
					socks = append(socks, received.Sub(t0.Round(0)))
				}
			}
			mu.Lock()
			all = append(all, lats...)
			atSocket = append(atSocket, socks...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(all)
	slices.Sort(atSocket)
	return loadResult{
		requests: done.Load(), errors: errs.Load(), elapsed: elapsed,
		latencies: all, atSocket: atSocket, firstErr: firstErr, bodyLen: int(bodyLen.Load()),
	}
}

// requestTimeout bounds one request.
const requestTimeout = 30 * time.Second

// worker is one keep-alive connection.
type worker struct {
	addr string
	conn *stampConn
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
// closed the connection. It answers the status, the body (valid until the
// next call) and when the answer's last bytes reached the socket.
func (w *worker) do(raw []byte) (int, []byte, time.Time, error) {
	var none time.Time
	if w.conn == nil {
		nc, err := net.DialTimeout("tcp", w.addr, 5*time.Second)
		if err != nil {
			return 0, nil, none, err
		}
		c, err := newStampConn(nc)
		if err != nil {
			nc.Close()
			return 0, nil, none, fmt.Errorf("receive timestamps: %w", err)
		}
		w.conn = c
		if w.br == nil {
			w.br = bufio.NewReaderSize(c, 32<<10)
		} else {
			w.br.Reset(c)
		}
	}
	// A server that stops answering fails the request instead of
	// holding the window open.
	_ = w.conn.SetDeadline(time.Now().Add(requestTimeout))
	w.conn.received = none
	if _, err := w.conn.Write(raw); err != nil {
		w.close()
		return 0, nil, none, err
	}
	resp, err := http.ReadResponse(w.br, nil)
	if err != nil {
		w.close()
		return 0, nil, none, err
	}
	w.body.Reset()
	_, err = w.body.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		w.close()
		return 0, nil, none, err
	}
	received := w.conn.received
	if received.IsZero() {
		// The kernel turns receive timestamps on a moment after the
		// first socket asks (a deferred static key), so the first
		// answers of a run may come without one: count them as read
		// now, never shorter than they were.
		received = time.Now()
	}
	if resp.Close {
		w.close()
	}
	return resp.StatusCode, w.body.Bytes(), received, nil
}

func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 0, 64) + " µs"
	case d < 10*time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
	default:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
	}
}
