package auth

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// Limiter bans a client address after too many failed authentications
// within a window, as GitLab does (default 30 in a minute bans for an
// hour). Counters live in the store so replicas share them. A nil Limiter
// limits nothing.
type Limiter struct {
	KV     tokens.KV
	Max    int64
	Window time.Duration
	Ban    time.Duration
	Now    func() time.Time
	Logger *slog.Logger
	// Failures and Bans, when set, count the failures reported to Fail
	// and the bans it imposed.
	Failures, Bans Counter
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Check answers a 429 error while addr is banned. A store failure does not
// block the request here; the credential lookup will report it.
func (l *Limiter) Check(ctx context.Context, addr string) error {
	if l == nil || addr == "" {
		return nil
	}
	b, banned, err := l.bans().get(ctx, addr)
	if err != nil {
		return storeErr(err)
	}
	return l.verdict(b, banned)
}

// verdict answers Check's error for an address with ban b, if banned.
func (l *Limiter) verdict(b ban, banned bool) error {
	if !banned {
		return nil
	}
	if !b.valid {
		return tooMany(l.Ban)
	}
	retry := b.until.Sub(l.now())
	if retry <= 0 {
		return nil
	}
	return tooMany(retry)
}

// storeErr answers the error of a request whose ban could not be read.
func storeErr(err error) error {
	if errors.Is(err, tokens.ErrUnavailable) {
		return ErrUnavailable
	}
	return err
}

// Fail counts one failure from addr and bans it at the limit, for callers
// that answer their refusal whatever the count (the web sign-in page).
func (l *Limiter) Fail(ctx context.Context, addr string) {
	_ = l.Failed(ctx, addr)
}

// Failed counts one failure from addr and decides on it in the same atomic
// step of the store (KV.Strike): nil while the failure is within the limit,
// so the caller answers its own refusal; the 429 once it is past it. Of N
// concurrent failures from one address, then, at most Max are answered as
// failures within a window, however they interleave: the ban check before
// the credential is read only spares the work, it does not bound. When the
// failure can't be counted the answer is ErrUnavailable (503): a refusal
// that is not counted would be a free guess (fail closed).
func (l *Limiter) Failed(ctx context.Context, addr string) error {
	if l == nil {
		return nil
	}
	if l.Failures != nil {
		l.Failures.Inc()
	}
	if addr == "" {
		return nil
	}
	until := l.now().Add(l.Ban)
	r, err := l.strikeUntil(ctx, addr, until)
	if err != nil {
		l.log().Warn("count failed authentication", "addr", addr, "err", err)
		return ErrUnavailable
	}
	if r.Created {
		l.log().Warn("address banned after failed authentications", "addr", addr, "failures", r.Count, "until", until)
		if l.Bans != nil {
			l.Bans.Inc()
		}
	}
	if r.Banned {
		if err := l.verdict(decodeBan(r.Ban), true); err != nil {
			return err
		}
	}
	if r.Count > l.Max {
		return tooMany(l.Ban)
	}
	return nil
}

// strike counts one refused request from addr (a ban it imposes ends
// Ban from now), without the bookkeeping of Failed: for a request refused
// because addr is already banned, which is no new failure to report.
func (l *Limiter) strike(ctx context.Context, addr string) error {
	if l == nil || addr == "" {
		return nil
	}
	_, err := l.strikeUntil(ctx, addr, l.now().Add(l.Ban))
	return err
}

func (l *Limiter) strikeUntil(ctx context.Context, addr string, until time.Time) (tokens.Struck, error) {
	return l.KV.Strike(ctx, tokens.Strike{
		Counter: tokens.FailKey(addr), Window: l.Window, Limit: l.Max,
		Ban: tokens.BanKey(addr), Value: encodeBan(until), BanTTL: l.Ban,
	})
}

func (l *Limiter) log() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.Default()
}

func (l *Limiter) bans() banStore { return banStore{l.KV} }

// ban is an address's ban as stored: its end, as Unix seconds. One that
// does not read as that (written by hand) is not valid, and bans for the
// limiter's whole ban time from now.
type ban struct {
	until time.Time
	valid bool
}

func decodeBan(v []byte) ban {
	until, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return ban{}
	}
	return ban{until: time.Unix(until, 0), valid: true}
}

func encodeBan(until time.Time) []byte {
	return strconv.AppendInt(nil, until.Unix(), 10)
}

// banStore keeps the limiter's state in a KV, by client address: the
// failure counts (tokens.FailKey) and the bans (tokens.BanKey).
type banStore struct{ kv tokens.KV }

// get answers addr's ban and whether it has one.
func (s banStore) get(ctx context.Context, addr string) (ban, bool, error) {
	v, err := s.kv.Get(ctx, tokens.BanKey(addr))
	if errors.Is(err, tokens.ErrNotFound) {
		return ban{}, false, nil
	}
	if err != nil {
		return ban{}, false, err
	}
	return decodeBan(v), true, nil
}
