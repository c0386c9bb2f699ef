package metrics

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// RedisHook answers a go-redis hook counting round trips and their
// failures by command.
func (m *Metrics) RedisHook() redis.Hook { return redisHook{m} }

type redisHook struct{ m *Metrics }

type storeSeries struct{ trips, errors prometheus.Counter }

// DialHook leaves dialing alone: a failed dial fails the command that
// needed the connection, which is counted.
func (h redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.m.roundTrip(cmd.Name(), err)
		return err
	}
}

// ProcessPipelineHook counts a pipeline as the one round trip it is.
func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		name := "pipeline"
		if len(cmds) > 0 {
			switch first := cmds[0].Name(); first {
			case "multi", "client": // a transaction; a new connection's setup
				name = first
			}
		}
		h.m.roundTrip(name, err)
		return err
	}
}

func (m *Metrics) roundTrip(command string, err error) {
	s, ok := m.storeSeries.Load(command)
	if !ok {
		s, _ = m.storeSeries.LoadOrStore(command, &storeSeries{
			trips: m.storeTrips.WithLabelValues(command), errors: m.storeErrors.WithLabelValues(command),
		})
	}
	ss := s.(*storeSeries)
	ss.trips.Inc()
	// A new connection's HELLO and CLIENT SETINFO are refused by
	// Redis versions without them, which go-redis expects and ignores.
	if command != "client" && command != "hello" && failed(err) {
		ss.errors.Inc()
	}
}

// failed reports whether err is a failure: a missing key is an answer, and
// a script Redis does not have yet is loaded and run at once by go-redis.
func failed(err error) bool {
	return err != nil && !errors.Is(err, redis.Nil) && !redis.HasErrorPrefix(err, "NOSCRIPT")
}
