package jwks_test

import (
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/jwks"
)

func BenchmarkSign(b *testing.B) {
	for _, alg := range []string{jwks.ES256, jwks.RS256, jwks.EdDSA} {
		for _, x5c := range []bool{false, true} {
			name := alg
			if x5c {
				name += "/x5c"
			}
			b.Run(name, func(b *testing.B) {
				c := newClock()
				cfg := storeConfig(newMemStore(), c)
				cfg.Alg, cfg.X5C = alg, x5c
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
