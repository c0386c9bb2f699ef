package githttp

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deploytokens/deploytokens/internal/httperr"
)

// The backend runs git http-backend as a CGI program. It does not use
// net/http/cgi because that handler (as of Go 1.26) refuses chunked request
// bodies, which git sends for every push larger than http.postBuffer; kills
// the child only when writing to the client fails, not when the client goes
// away while git is busy; kills only http-backend and not the upload-pack or
// pack-objects under it; and lets net/http discard an unread request body
// once the response starts, while http-backend sends its headers before
// receive-pack reads the push.

// waitDelay bounds how long a killed backend may keep its pipes open
// before they are closed under it.
const waitDelay = 5 * time.Second

// maxStderr caps how much of the backend's stderr is kept for the log.
const maxStderr = 8 << 10

// errClientGone marks a response that ended because the client left.
var errClientGone = errors.New("client went away")

func (h *handler) serveBackend(w http.ResponseWriter, r *http.Request, canonical string, req gitRequest) {
	rc := http.NewResponseController(w)
	// http-backend writes its headers before receive-pack reads the
	// request body, so HTTP/1.1 must keep the body readable after the
	// response has started. Not supported means a writer that does not
	// care (HTTP/2 always allows it).
	_ = rc.EnableFullDuplex()

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	log := h.cfg.Logger.With("project", canonical, "op", req.op, "route", req.route)
	absRoot, err := h.cfg.Repos.absRoot()
	if err != nil {
		log.Error("githttp: repository root", "err", err)
		h.cfg.OnError(w, r, err)
		return
	}

	body, length, err := h.requestBody(r)
	if err != nil {
		log.Debug("githttp: request body refused", "err", err)
		h.cfg.OnError(w, r, err)
		return
	}

	cmd := exec.CommandContext(ctx, h.cfg.Repos.gitBin(), "http-backend")
	cmd.Dir = absRoot
	cmd.Env = append(baseEnv(), backendEnv(r, absRoot, canonical, req, length)...)
	cmd.WaitDelay = waitDelay
	ownProcessGroup(cmd)
	if length != 0 {
		// exec copies the body into the pipe as the backend reads it, so
		// a push streams; -1 (chunked) leaves CONTENT_LENGTH unset and
		// http-backend reads to the end.
		cmd.Stdin = body
	}
	stderr := &limitedBuffer{max: maxStderr}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		log.Error("githttp: starting git http-backend", "err", err)
		h.cfg.OnError(w, r, fmt.Errorf("git http-backend: %w", err))
		return
	}

	// Each write to the client gets StallTimeout to go through, so a
	// client that stops reading frees its backend; the server has no write
	// timeout of its own, which would cut off long clones. Cleared after,
	// since net/http does not reset it for the connection's next request.
	// Not supported means a writer with no connection to time out.
	defer rc.SetWriteDeadline(time.Time{})
	respErr := h.relay(w, rc, r, stdout)
	if respErr != nil {
		// Kill the whole process group now rather than wait for git to
		// notice a closed pipe, which it may not do while packing.
		cancel()
	}
	waitErr := cmd.Wait()
	if h.cfg.backendExited != nil {
		h.cfg.backendExited(cmd.Process.Pid, waitErr)
	}

	// A client that leaves, or hangs up once it has its answer (go-git
	// does), is routine: its backend was stopped on purpose.
	switch {
	case respErr != nil && errors.Is(respErr, os.ErrDeadlineExceeded):
		log.Info("githttp: client stopped reading; backend stopped", "stall", h.cfg.StallTimeout)
	case respErr != nil && (errors.Is(respErr, errClientGone) || r.Context().Err() != nil):
		log.Debug("githttp: client went away; backend stopped", "err", respErr)
	case respErr != nil:
		log.Error("githttp: backend response", "err", respErr, "exit", waitErr, "stderr", stderr.String())
	case waitErr != nil && r.Context().Err() != nil:
		log.Debug("githttp: client went away after its answer; backend stopped", "err", waitErr)
	case waitErr != nil:
		log.Warn("githttp: git http-backend failed", "err", waitErr, "stderr", stderr.String())
	case stderr.String() != "":
		log.Warn("githttp: git http-backend stderr", "stderr", stderr.String())
	}
}

// relay turns the backend's CGI response into the HTTP response, streaming
// the body with a flush after every read so progress reaches the client.
func (h *handler) relay(w http.ResponseWriter, rc *http.ResponseController, r *http.Request, stdout io.Reader) error {
	br := bufio.NewReaderSize(stdout, 32<<10)
	hdr, err := textproto.NewReader(br).ReadMIMEHeader()
	if err != nil {
		if r.Context().Err() != nil {
			return errClientGone
		}
		h.cfg.OnError(w, r, fmt.Errorf("git http-backend: reading headers: %w", err))
		return err
	}
	status := http.StatusOK
	if s := hdr.Get("Status"); s != "" {
		code, _, _ := strings.Cut(s, " ")
		n, err := strconv.Atoi(code)
		if err != nil || n < 100 || n > 999 {
			h.cfg.OnError(w, r, fmt.Errorf("git http-backend: bad status %q", s))
			return fmt.Errorf("bad status %q", s)
		}
		status = n
	}
	hdr.Del("Status")
	for k, v := range hdr {
		w.Header()[k] = v
	}
	h.writeDeadline(rc)
	w.WriteHeader(status)
	if err := flush(rc); err != nil {
		return err
	}

	buf := make([]byte, 32<<10)
	for {
		n, rerr := br.Read(buf)
		if n > 0 {
			h.writeDeadline(rc)
			if _, err := w.Write(buf[:n]); err != nil {
				return fmt.Errorf("%w: %w", errClientGone, err)
			}
			if err := flush(rc); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			if r.Context().Err() != nil {
				// The backend was killed because its client left, not
				// done with its answer.
				return errClientGone
			}
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("reading backend output: %w", rerr)
		}
	}
}

// writeDeadline gives the next write to the client StallTimeout to go
// through. It is set before each write, not once, so a long clone over a
// slow link is fine as long as the client keeps reading.
func (h *handler) writeDeadline(rc *http.ResponseController) {
	_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.StallTimeout))
}

func flush(rc *http.ResponseController) error {
	if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("%w: %w", errClientGone, err)
	}
	return nil
}

// requestBody answers the body to give the backend and its length (-1:
// unknown). A gzip body is inflated here rather than by http-backend, which
// inflates without a bound: a few MB of gzip can be a GB of "have" lines
// that keep upload-pack busy for half a minute. It is read whole, up to
// Config.MaxInflatedBody, before the backend starts, so a body over the
// bound is answered 413 instead of a response already begun; git gzips
// only fetch requests, which are small, and never a push's pack.
func (h *handler) requestBody(r *http.Request) (io.Reader, int64, error) {
	if e := r.Header.Get("Content-Encoding"); e != "gzip" && e != "x-gzip" {
		// Others http-backend passes on as they are, as it always did.
		return r.Body, r.ContentLength, nil
	}
	limit := h.cfg.MaxInflatedBody
	// The compressed body is read whole first, in one read to its end, and
	// inflated from memory: inflating straight from the connection, with
	// full duplex on, could read past the body's end while net/http's
	// background read of the next request had begun, which panics. It is
	// never larger than the bound on what it inflates to.
	raw, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, 0, bodyError(r, err)
	}
	if int64(len(raw)) > limit {
		return nil, 0, httperr.New(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("the request body is larger than %d bytes", limit))
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, 0, bodyError(r, err)
	}
	defer zr.Close()
	data, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, 0, bodyError(r, err)
	}
	if int64(len(data)) > limit {
		return nil, 0, httperr.New(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("the request body inflates to more than %d bytes", limit))
	}
	return bytes.NewReader(data), int64(len(data)), nil
}

// bodyError is the error for a request body that could not be read or
// inflated: the client's fault unless it left.
func bodyError(r *http.Request, err error) error {
	if r.Context().Err() != nil {
		return fmt.Errorf("%w: %w", errClientGone, err)
	}
	return httperr.BadRequest("the gzip request body does not inflate: " + err.Error())
}

// backendEnv is the CGI environment for one request. Headers are passed
// one by one instead of as HTTP_* wholesale, so a client cannot set
// variables git reads.
func backendEnv(r *http.Request, absRoot, canonical string, req gitRequest, contentLength int64) []string {
	env := []string{
		"GATEWAY_INTERFACE=CGI/1.1",
		"SERVER_PROTOCOL=" + r.Proto,
		"REQUEST_METHOD=" + r.Method,
		"GIT_PROJECT_ROOT=" + absRoot,
		"PATH_INFO=" + backendPathInfo(canonical, req.route),
		"GIT_HTTP_EXPORT_ALL=1",
		// Access is Authorize's decision alone: enable both services
		// whatever the repository's config says, and never serve files.
		// Partial clone (--filter=blob:none, tree:0, ...) as GitLab
		// allows it: filters, and wants of objects no ref names, which is
		// how a partial clone later fetches the blobs and trees it left
		// out. Protocol v2 allows those wants anyway; v0 needs the
		// setting, and gets the reachable-only one, so an object no ref
		// leads to any more (a force-pushed-away commit) stays out.
		"GIT_CONFIG_COUNT=5",
		"GIT_CONFIG_KEY_0=http.receivepack", "GIT_CONFIG_VALUE_0=true",
		"GIT_CONFIG_KEY_1=http.uploadpack", "GIT_CONFIG_VALUE_1=true",
		"GIT_CONFIG_KEY_2=http.getanyfile", "GIT_CONFIG_VALUE_2=false",
		"GIT_CONFIG_KEY_3=uploadpack.allowfilter", "GIT_CONFIG_VALUE_3=true",
		"GIT_CONFIG_KEY_4=uploadpack.allowreachablesha1inwant", "GIT_CONFIG_VALUE_4=true",
	}
	if req.route == routeInfoRefs {
		env = append(env, "QUERY_STRING=service="+req.service)
	} else {
		env = append(env, "QUERY_STRING=")
	}
	if contentLength >= 0 {
		env = append(env, "CONTENT_LENGTH="+strconv.FormatInt(contentLength, 10))
	}
	if v := r.Header.Get("Content-Type"); v != "" {
		env = append(env, "CONTENT_TYPE="+v)
	}
	// No HTTP_CONTENT_ENCODING: requestBody has inflated a gzip body.
	if v := r.Header.Get("Git-Protocol"); v != "" && len(v) <= 1024 && !strings.ContainsFunc(v, isControl) {
		env = append(env, "GIT_PROTOCOL="+v)
	}
	if u := remoteUser(r); u != "" {
		env = append(env, "REMOTE_USER="+u)
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		env = append(env, "REMOTE_ADDR="+host)
	}
	return env
}

// limitedBuffer keeps the first max bytes written to it and drops the rest.
// It is locked because exec may still be copying stderr when Wait gives up
// after WaitDelay.
type limitedBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(string(b.buf))
}
