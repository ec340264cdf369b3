package mongodb_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/mongodb"
)

func TestConnectBadURI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name, uri, want string
	}{
		{"wrong scheme", "mysql://user:s3cret-pw@db:3306/x", "invalid URI"},
		{"bad port", "mongodb://user:s3cret-pw@db:notaport/", "invalid URI"},
		{"bad option value", "mongodb://user:s3cret-pw@db/?connectTimeoutMS=soon", "invalid URI"},
		{"nobody listening", "mongodb://user:s3cret-pw@127.0.0.1:1/?serverSelectionTimeoutMS=200&connectTimeoutMS=200", "cannot reach"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, err := mongodb.Connect(ctx, tc.uri, quietLogger())
			if err == nil {
				_ = client.Disconnect(ctx)
				t.Fatalf("Connect(%q) succeeded", tc.uri)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not say %q", msg, tc.want)
			}
			if strings.Contains(msg, "s3cret") {
				t.Errorf("error shows the password: %q", msg)
			}
			if !strings.Contains(msg, "user:xxxxx@") {
				t.Errorf("error %q does not name the (redacted) URI", msg)
			}
		})
	}
}

func TestRedactURI(t *testing.T) {
	for in, want := range map[string]string{
		"mongodb://u:p%40ss@a:1,b:2/db?replicaSet=rs0": "mongodb://u:xxxxx@a:1,b:2/db?replicaSet=rs0",
		"mongodb+srv://u:pw@cluster.example/":          "mongodb+srv://u:xxxxx@cluster.example/",
		"mongodb://u@host/":                            "mongodb://u@host/",
		"mongodb://host/?authSource=a@b":               "mongodb://host/?authSource=a@b",
		"not a uri":                                    "not a uri",
	} {
		if got := mongodb.RedactURI(in); got != want {
			t.Errorf("RedactURI(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDatabaseName(t *testing.T) {
	for uri, want := range map[string]string{
		"mongodb://mongo:27017/onboarding?replicaSet=rs0": "onboarding",
		"mongodb://u:p@mongo:27017/?replicaSet=rs0":       "portal",
		"mongodb://127.0.0.1:41234/":                      "portal",
		"mysql://db/x":                                    "portal",
	} {
		if got := mongodb.DatabaseName(uri, "portal"); got != want {
			t.Errorf("DatabaseName(%q) = %q, want %q", uri, got, want)
		}
	}
}
