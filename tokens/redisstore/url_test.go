package redisstore

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestNewClient(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		want    string // client type
		wantErr string
	}{
		{"standalone", "redis://127.0.0.1:1/2", "*redis.Client", ""},
		{"standalone tls", "rediss://u:p@127.0.0.1:1/0", "*redis.Client", ""},
		{"sentinel", "redis+sentinel://127.0.0.1:1/0?master_name=main&addr=127.0.0.1:2", "*redis.Client", ""},
		{"sentinel without master", "redis+sentinel://127.0.0.1:1/0", "", "master_name"},
		{"cluster", "redis+cluster://127.0.0.1:1?addr=127.0.0.1:2", "*redis.ClusterClient", ""},
		{"unknown scheme", "http://127.0.0.1:1", "", "unsupported"},
		{"no scheme", "127.0.0.1:6379", "", "no scheme"},
		{"bad option", "redis://127.0.0.1:1/0?nonsense=1", "", "nonsense"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newClient(tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("newClient: %v", err)
			}
			defer c.Close()
			if got := typeName(c); got != tt.want {
				t.Errorf("client %s, want %s", got, tt.want)
			}
		})
	}
}

func typeName(c redis.UniversalClient) string {
	switch c.(type) {
	case *redis.Client:
		return "*redis.Client"
	case *redis.ClusterClient:
		return "*redis.ClusterClient"
	}
	return "other"
}

func TestKeysShareOneSlot(t *testing.T) {
	for _, prefix := range []string{"", "app:", "a{b}:", "x{"} {
		s := NewFromClient(nil, Options{Prefix: prefix})
		keys := []string{s.key("u", "1"), s.idKey("d", 99), s.key("dh", "\x00\xff{}"), s.key("kv", "{other}"), s.key("ps")}
		want := hashSlot(keys[0])
		for _, k := range keys {
			if !strings.HasPrefix(k, prefixOr(prefix)) {
				t.Errorf("key %q does not start with the prefix %q", k, prefixOr(prefix))
			}
			if got := hashSlot(k); got != want {
				t.Errorf("prefix %q: key %q hashes to slot %d, others to %d", prefix, k, got, want)
			}
		}
	}
}

func prefixOr(p string) string {
	if p == "" {
		return DefaultPrefix
	}
	return p
}

// hashSlot is Redis Cluster's key slot: CRC16 of the hash tag (the part
// between the first "{" and the next "}", when not empty) or of the key.
func hashSlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}
