package readmodels

import (
	"os"
	"testing"

	"github.com/orgportal/onboarding/adapters/mongodb/mongotest"
)

// srv is the embedded FerretDB (or PORTAL_TEST_MONGO_URL's MongoDB) the
// database tests of this package share.
var srv *mongotest.Server

func TestMain(m *testing.M) { os.Exit(mongotest.Run(m, &srv)) }
