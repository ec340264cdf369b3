package mongodb

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/mongo/readpref"
	"go.mongodb.org/mongo-driver/x/mongo/driver/connstring"
)

// Timeouts Connect uses unless the URI sets its own (connectTimeoutMS,
// serverSelectionTimeoutMS). The driver's 30 s server selection default
// would hold a read request far past any sensible 503.
const (
	DefaultConnectTimeout         = 5 * time.Second
	DefaultServerSelectionTimeout = 5 * time.Second
)

// Connect opens a client for uri (mongodb:// or mongodb+srv://) and pings
// the primary, so that an unreachable or misconfigured server is reported
// here rather than on the first query. The ping is bounded by ctx and by
// the server selection timeout. Errors and logs never show the password.
func Connect(ctx context.Context, uri string, logger *slog.Logger) (*mongo.Client, error) {
	if logger == nil {
		logger = slog.Default()
	}
	shown := RedactURI(uri)
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return nil, redactErr(uri, fmt.Errorf("mongodb: invalid URI %q: %w", shown, err))
	}
	opts := options.Client().ApplyURI(uri)
	if !cs.ConnectTimeoutSet {
		opts.SetConnectTimeout(DefaultConnectTimeout)
	}
	if !cs.ServerSelectionTimeoutSet {
		opts.SetServerSelectionTimeout(DefaultServerSelectionTimeout)
	}
	if cs.AppName == "" {
		opts.SetAppName("onboarding-portal")
	}
	client, err := mongo.Connect(ctx, opts)
	if err != nil {
		return nil, redactErr(uri, fmt.Errorf("mongodb: connect to %s: %w", shown, err))
	}
	if err := client.Ping(ctx, readpref.Primary()); err != nil {
		// Disconnect must not hang on a server that never answered.
		dctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = client.Disconnect(dctx)
		return nil, redactErr(uri, fmt.Errorf("mongodb: cannot reach %s: %w", shown, err))
	}
	logger.Info("connected to MongoDB", "uri", shown)
	return client, nil
}

// RedactURI returns uri with the password replaced by "xxxxx", for logs and
// errors. It does not need a valid URI: it only looks for user:password@
// between the scheme and the first path separator.
func RedactURI(uri string) string {
	_, pw, start, end := splitPassword(uri)
	if pw == "" {
		return uri
	}
	return uri[:start] + "xxxxx" + uri[end:]
}

// splitPassword finds the password in scheme://user:password@hosts/...; it
// reports the (still escaped) password and its byte range in uri.
func splitPassword(uri string) (user, pw string, start, end int) {
	i := strings.Index(uri, "://")
	if i < 0 {
		return "", "", 0, 0
	}
	authStart := i + 3
	rest := uri[authStart:]
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		rest = rest[:j]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return "", "", 0, 0
	}
	userinfo := rest[:at]
	colon := strings.Index(userinfo, ":")
	if colon < 0 {
		return userinfo, "", 0, 0
	}
	start = authStart + colon + 1
	end = authStart + at
	return userinfo[:colon], uri[start:end], start, end
}

// redactedError keeps the chain of err (errors.Is/As still work) but shows
// a message with the URI's password removed: the driver quotes parts of
// the URI in some of its errors.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func redactErr(uri string, err error) error {
	_, pw, _, _ := splitPassword(uri)
	if pw == "" {
		return err
	}
	msg := strings.ReplaceAll(err.Error(), pw, "xxxxx")
	if unescaped, uerr := url.PathUnescape(pw); uerr == nil && unescaped != pw && unescaped != "" {
		msg = strings.ReplaceAll(msg, unescaped, "xxxxx")
	}
	return &redactedError{msg: msg, err: err}
}

// DatabaseName is the database named in uri's path
// (mongodb://host/<database>), or fallback when there is none or the URI
// does not parse. The embedded server's URI names none.
func DatabaseName(uri, fallback string) string {
	cs, err := connstring.Parse(uri)
	if err != nil || cs.Database == "" {
		return fallback
	}
	return cs.Database
}

// IsFerretDB reports whether db's server is FerretDB, which answers
// buildInfo with a ferretdbVersion; callers pick query strategies by it
// (FerretDB v1 filters anything but {_id: value} by scanning in Go).
func IsFerretDB(ctx context.Context, db *mongo.Database) (bool, error) {
	var info bson.M
	if err := db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return false, fmt.Errorf("mongodb: buildInfo: %w", err)
	}
	_, ferret := info["ferretdbVersion"]
	return ferret, nil
}
