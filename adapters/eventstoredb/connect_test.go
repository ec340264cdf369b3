package eventstoredb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The client's lines reach slog at their level, under the caller's
// component, once; a subscription this process cancelled is not an
// error, any other drop is.
func TestClientLoggingLevels(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", "esdb-client")
	log := clientLogging(logger)
	for _, c := range []struct {
		level esdb.LogLevel
		err   error
		want  string
	}{
		{esdb.LogError, status.Error(codes.Canceled, "context canceled"), "DEBUG"},
		{esdb.LogError, fmt.Errorf("read: %w", context.Canceled), "DEBUG"},
		{esdb.LogError, status.Error(codes.Unavailable, "connection refused"), "ERROR"},
		{esdb.LogError, errors.New("stream deleted"), "ERROR"},
		{esdb.LogWarn, errors.New("slow"), "WARN"},
		{esdb.LogInfo, errors.New("discovery attempt"), "DEBUG"},
	} {
		buf.Reset()
		log(c.level, "subscription has dropped. Reason: %v", c.err)
		var rec map[string]any
		if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
			t.Fatalf("%v: %v in %q", c.err, err, buf.String())
		}
		if rec["level"] != c.want || !strings.Contains(rec["msg"].(string), c.err.Error()) {
			t.Errorf("%v at client level %v: logged %v %q, want %s", c.err, c.level, rec["level"], rec["msg"], c.want)
		}
		if n := strings.Count(buf.String(), `"component"`); n != 1 {
			t.Errorf("%d component attributes in %s, want 1", n, buf.String())
		}
	}
}
