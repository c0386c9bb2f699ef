package auth

import (
	"encoding/base64"
	"errors"
	"testing"
)

// TestFederationRefusesAlgBeforeAskingTheIssuer: a token whose alg no key
// may sign with (none, HS256) is refused without asking its issuer, so an
// issuer that can't be reached makes it a refusal (401, counted by the
// limiter), not an outage (503) that costs a guesser nothing. Found in the
// black-box probe.
func TestFederationRefusesAlgBeforeAskingTheIssuer(t *testing.T) {
	// An allowed issuer nobody answers for: asking it would be an outage.
	f := &Federation{Issuers: []string{"https://issuer.invalid"}}
	enc := base64.RawURLEncoding.EncodeToString
	payload := enc([]byte(`{"iss":"https://issuer.invalid","sub":"x","aud":"dt","exp":4102444800}`))
	for _, alg := range []string{"none", "HS256"} {
		t.Run(alg, func(t *testing.T) {
			raw := enc([]byte(`{"alg":"`+alg+`","typ":"JWT"}`)) + "." + payload + ".c2ln"
			_, err := f.Verify(t.Context(), raw)
			if errors.Is(err, ErrUnavailable) {
				t.Fatalf("asked the issuer: %v", err)
			}
			if _, ok := errors.AsType[errFederation](err); !ok {
				t.Fatalf("Verify: %v, want a refusal", err)
			}
		})
	}
}
