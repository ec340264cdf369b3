package mongodb

import "testing"

func TestEmbeddedURILimitsThePool(t *testing.T) {
	for in, want := range map[string]string{
		"mongodb://127.0.0.1:4242/":                         "mongodb://127.0.0.1:4242/?maxPoolSize=16",
		"mongodb://127.0.0.1:4242/?appName=x":               "mongodb://127.0.0.1:4242/?appName=x&maxPoolSize=16",
		"mongodb://127.0.0.1:4242/?maxPoolSize=4":           "mongodb://127.0.0.1:4242/?maxPoolSize=4",
		"mongodb://127.0.0.1:4242/db?directConnection=true": "mongodb://127.0.0.1:4242/db?directConnection=true&maxPoolSize=16",
	} {
		if got := withPoolLimit(in); got != want {
			t.Errorf("withPoolLimit(%q) = %q, want %q", in, got, want)
		}
	}
}
