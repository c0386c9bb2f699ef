package jwks_test

import (
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/jwks"
)

func BenchmarkSign(b *testing.B) {
	for _, alg := range []string{jwks.ES256, jwks.RS256, jwks.EdDSA} {
		for _, mode := range []string{"", "x5c", "chain"} {
			name := alg
			if mode != "" {
				name += "/" + mode
			}
			b.Run(name, func(b *testing.B) {
				c := newClock()
				cfg := storeConfig(newMemStore(), c)
				// x5c: the self-signed key's certificate; chain: ModeX5C's
				// leaf issued by the root.
				cfg.Alg, cfg.X5C = alg, mode == "x5c"
				if mode == "chain" {
					cfg.Mode, cfg.KeyRotation = jwks.ModeX5C, 720*time.Hour
				}
				m := newManager(b, cfg)
				claims := registryClaims(c.Now(), 5*time.Minute)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := m.Sign(claims); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
