// Package webhook sends the webhook deliveries that the tokens service
// queues in the store: it claims due deliveries (each replica runs a
// worker; a claim is a lease, so each delivery goes to one), POSTs them,
// and finishes or retries each with backoff. It owns the HTTP client, whose
// dialer refuses loopback and private addresses unless they are allowed,
// checked at dial time so a name that resolves elsewhere since the hook
// was saved (DNS rebinding) can't reach them. It must not decide what is
// sent or to whom: that is the tokens service's.
package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// Worker delivers the queued webhooks.
type Worker struct {
	Service *tokens.Service
	// Lease is how long a claimed delivery is this worker's: a replica
	// that dies holding one leaves it to the others after Lease. A request
	// gets at most half of it, so no live worker is overtaken.
	Lease time.Duration
	// Poll is how often the queue is read.
	Poll time.Duration
	// Backoff is the wait after a first failure; each next one is six
	// times longer (10s, 1m, 6m, 36m, 3.6h with the default), up to
	// MaxBackoff.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// MaxAttempts bounds the attempts of a delivery; after the last
	// failure it is dropped, saying so in the log.
	MaxAttempts int
	// AllowPrivate lets deliveries reach loopback and private addresses.
	AllowPrivate bool
	Logger       *slog.Logger

	verify, noVerify *http.Client
}

// batch bounds the deliveries one claim takes (claimSize bounds it
// further by the lease).
const batch = 16

// requestTimeout bounds one delivery's request: half the lease at most,
// so a delivery's outcome is recorded while its lease holds.
func (w *Worker) requestTimeout() time.Duration { return min(10*time.Second, w.Lease/2) }

// claimSize is how many deliveries one claim may take: as many as can be
// sent one after another, each taking its whole timeout, within half the
// lease. More, and the last ones of a batch would be sent after their
// lease ran out, when another replica may claim and send them too.
func (w *Worker) claimSize() int {
	return max(1, min(batch, int(w.Lease/2/w.requestTimeout())))
}

// errBlocked is a dial refused by the address check.
var errBlocked = errors.New("address is loopback, private or link-local: requests to the local network are not allowed")

func (w *Worker) log() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.Default()
}

// clients builds the two HTTP clients (with and without certificate
// verification), once.
func (w *Worker) clients() {
	if w.verify != nil {
		return
	}
	timeout := w.requestTimeout()
	mk := func(insecure bool) *http.Client {
		d := &net.Dialer{Timeout: timeout}
		if !w.AllowPrivate {
			d.Control = func(network, address string, _ syscall.RawConn) error {
				host, _, err := net.SplitHostPort(address)
				if err != nil {
					return err
				}
				a, err := netip.ParseAddr(host)
				if err != nil || tokens.PrivateAddr(a) {
					return fmt.Errorf("dial %s: %w", address, errBlocked)
				}
				return nil
			}
		}
		return &http.Client{
			Timeout: timeout,
			// No proxy from the environment: the dial check would then
			// vet the proxy, not the hook.
			Transport: &http.Transport{DialContext: d.DialContext, TLSClientConfig: &tls.Config{InsecureSkipVerify: insecure}, //nolint:gosec // the hook's enable_ssl_verification false asks for it
				MaxIdleConns: 16, IdleConnTimeout: 30 * time.Second},
			// A redirect would be a second request to an address the hook
			// never named.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	w.verify, w.noVerify = mk(false), mk(true)
}

// Run delivers until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	w.clients()
	t := time.NewTicker(w.Poll)
	defer t.Stop()
	for {
		for {
			n, err := w.RunOnce(ctx)
			if err != nil && ctx.Err() == nil {
				w.log().WarnContext(ctx, "claim webhook deliveries", "err", err)
			}
			if n < w.claimSize() || err != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce claims the due deliveries and sends them, answering how many it
// claimed.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	w.clients()
	ds, err := w.Service.Store.ClaimDeliveries(ctx, w.Service.Clock(), w.Lease, w.claimSize())
	if err != nil {
		return 0, err
	}
	for _, d := range ds {
		w.deliver(ctx, d)
	}
	return len(ds), nil
}

// deliver sends d once and records the outcome. A worker stopping (ctx
// done) records nothing: the delivery stays leased and is sent again by
// whichever replica claims it once the lease ends, as if this one died.
func (w *Worker) deliver(ctx context.Context, d tokens.Delivery) {
	store := w.Service.Store
	target, err := w.Service.DeliveryTarget(ctx, d)
	if errors.Is(err, tokens.ErrHookNotFound) {
		w.log().InfoContext(ctx, "webhook delivery dropped: its hook was deleted or unsubscribed", "delivery_id", d.ID, "hook_id", d.HookID)
		w.finish(ctx, d)
		return
	}
	status, err := "", error(nil)
	if err == nil {
		status, err = w.send(ctx, d, target)
	}
	if ctx.Err() != nil {
		return
	}
	attrs := []any{"delivery_id", d.ID, "hook_id", d.HookID, "event_id", d.EventID, "attempt", d.Attempts, "host", hostOf(target.URL)}
	if err == nil {
		w.log().InfoContext(ctx, "webhook delivered", append(attrs, "status", status)...)
		w.finish(ctx, d)
		return
	}
	if status == "" {
		status = err.Error()
	}
	if d.Attempts >= w.MaxAttempts {
		w.log().WarnContext(ctx, "webhook delivery failed for the last time: dropped", append(attrs, "status", status)...)
		w.finish(ctx, d)
		return
	}
	wait := w.backoff(d.Attempts)
	w.log().WarnContext(ctx, "webhook delivery failed: will retry", append(attrs, "status", status, "retry_in", wait)...)
	if err := store.RetryDelivery(ctx, d.ID, w.Service.Clock().Add(wait), status); err != nil {
		// Left leased: it is claimed again after the lease.
		w.log().WarnContext(ctx, "schedule webhook retry", "delivery_id", d.ID, "err", err)
	}
}

func (w *Worker) finish(ctx context.Context, d tokens.Delivery) {
	if err := w.Service.Store.FinishDelivery(ctx, d.ID); err != nil {
		// Sent again after the lease: at least once, not exactly once,
		// when the store fails here.
		w.log().WarnContext(ctx, "finish webhook delivery", "delivery_id", d.ID, "err", err)
	}
}

// backoff is the wait after attempt failed attempts.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.Backoff
	for i := 1; i < attempt && d < w.MaxBackoff; i++ {
		d *= 6
	}
	if w.MaxBackoff > 0 {
		d = min(d, w.MaxBackoff)
	}
	return d
}

// send POSTs d to target; an error unless the answer is 2xx. status is the
// answer's status line, "" when there was none.
func (w *Worker) send(ctx context.Context, d tokens.Delivery, target tokens.HookTarget) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.URL, strings.NewReader(string(d.Payload)))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "deploytokens-webhook")
	req.Header.Set("X-Gitlab-Event", d.Event)
	req.Header.Set("X-Gitlab-Webhook-UUID", fmt.Sprintf("delivery-%d", d.ID))
	req.Header.Set("Idempotency-Key", fmt.Sprintf("deploytokens-delivery-%d", d.ID))
	if target.Token != "" {
		req.Header.Set("X-Gitlab-Token", target.Token.Reveal())
	}
	c := w.verify
	if !target.EnableSSLVerification {
		c = w.noVerify
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", scrub(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.Status, fmt.Errorf("answered %s", resp.Status)
	}
	return resp.Status, nil
}

// scrub drops the URL from a client error: a hook URL may carry a secret
// in its query.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// hostOf answers a URL's host, for logs.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
