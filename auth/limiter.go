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
	return l.verdict(l.KV.Get(ctx, tokens.BanKey(addr)))
}

// verdict answers Check's error from what reading the ban key answered.
func (l *Limiter) verdict(v []byte, err error) error {
	if err != nil {
		if errors.Is(err, tokens.ErrNotFound) {
			return nil
		}
		if errors.Is(err, tokens.ErrUnavailable) {
			return ErrUnavailable
		}
		return err
	}
	until, perr := strconv.ParseInt(string(v), 10, 64)
	if perr != nil {
		return tooMany(l.Ban)
	}
	retry := time.Unix(until, 0).Sub(l.now())
	if retry <= 0 {
		return nil
	}
	return tooMany(retry)
}

// Fail counts one failure from addr and bans it at the limit.
func (l *Limiter) Fail(ctx context.Context, addr string) {
	if l == nil {
		return
	}
	if l.Failures != nil {
		l.Failures.Inc()
	}
	if addr == "" {
		return
	}
	n, err := l.KV.Incr(ctx, tokens.FailKey(addr), l.Window)
	if err != nil {
		l.log().Warn("count failed authentication", "addr", addr, "err", err)
		return
	}
	if n < l.Max {
		return
	}
	until := l.now().Add(l.Ban)
	err = l.KV.Create(ctx, tokens.BanKey(addr), []byte(strconv.FormatInt(until.Unix(), 10)), l.Ban)
	if err != nil && !errors.Is(err, tokens.ErrConflict) {
		l.log().Warn("ban address", "addr", addr, "err", err)
		return
	}
	if err == nil {
		l.log().Warn("address banned after failed authentications", "addr", addr, "failures", n, "until", until)
		if l.Bans != nil {
			l.Bans.Inc()
		}
	}
}

func (l *Limiter) log() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.Default()
}
