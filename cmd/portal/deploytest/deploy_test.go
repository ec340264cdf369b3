package deploytest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/orgportal/onboarding/cmd/portal/config"
)

// repoRoot is where the deployment files live, relative to this package.
const repoRoot = "../../.."

// ciVariables are read by tests and .ci/run, not by the portal.
var ciVariables = []string{"PORTAL_REQUIRE_CHROMIUM", "PORTAL_REQUIRE_MAILPIT"}

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Profiles    []string          `yaml:"profiles"`
		Build       any               `yaml:"build"`
		Command     any               `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		DependsOn map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
	} `yaml:"services"`
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal(read(t, "docker-compose.yml"), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

func TestComposeServices(t *testing.T) {
	c := loadCompose(t)
	wantImages := map[string]string{
		"eventstore": "eventstore/eventstore:24.10",
		"mongo":      "mongo:8",
		"mailpit":    "axllent/mailpit",
	}
	for name, image := range wantImages {
		s, ok := c.Services[name]
		if !ok {
			t.Errorf("service %s missing", name)
			continue
		}
		if !strings.HasPrefix(s.Image, image) {
			t.Errorf("service %s: image %q, want %s", name, s.Image, image)
		}
		if len(s.Healthcheck.Test) == 0 {
			t.Errorf("service %s has no health check", name)
		}
	}
	if env := c.Services["eventstore"].Environment; env["EVENTSTORE_INSECURE"] != "true" || env["EVENTSTORE_RUN_PROJECTIONS"] != "None" {
		t.Errorf("eventstore environment: %v", env)
	}
	mongoCmd, _ := c.Services["mongo"].Command.([]any)
	if !slices.Contains(mongoCmd, any("--replSet")) || !slices.Contains(mongoCmd, any("rs0")) {
		t.Errorf("mongo must run as replica set rs0: command %v", c.Services["mongo"].Command)
	}
	if hc := strings.Join(c.Services["mongo"].Healthcheck.Test, " "); !strings.Contains(hc, "rs.initiate") {
		t.Errorf("mongo health check does not initiate the replica set: %s", hc)
	}

	portal, ok := c.Services["portal"]
	if !ok {
		t.Fatal("service portal missing")
	}
	if portal.Build == nil {
		t.Error("portal is not built from the Dockerfile")
	}
	if hc := strings.Join(portal.Healthcheck.Test, " "); !strings.Contains(hc, "healthcheck") {
		t.Errorf("portal health check %q does not use `portal healthcheck` (/readyz)", hc)
	}
	for _, dep := range []string{"eventstore", "mongo", "mailpit"} {
		if portal.DependsOn[dep].Condition != "service_healthy" {
			t.Errorf("portal must depend on %s being healthy", dep)
		}
	}
}

// The optional replica of role api (profile scale) shares the portal's
// stores and token keys, and starts once the portal that projects is up.
func TestComposeAPIReplica(t *testing.T) {
	c := loadCompose(t)
	api, ok := c.Services["portal-api"]
	if !ok {
		t.Fatal("service portal-api missing")
	}
	portal := c.Services["portal"]
	if !slices.Equal(api.Profiles, []string{"scale"}) {
		t.Errorf("portal-api profiles %v: want it only with --profile scale", api.Profiles)
	}
	if api.Build == nil || api.Environment[config.EnvRole] != config.RoleAPI {
		t.Errorf("portal-api must be the portal's image with %s=%s: %v", config.EnvRole, config.RoleAPI, api.Environment)
	}
	for _, name := range []string{config.EnvEventStoreURL, config.EnvMongoURL, config.EnvPublicURL, config.EnvDataDir} {
		if api.Environment[name] != portal.Environment[name] {
			t.Errorf("portal-api %s = %q, the portal's %q: replicas share their stores, links and keys", name, api.Environment[name], portal.Environment[name])
		}
	}
	if !slices.Equal(api.Volumes, portal.Volumes) {
		t.Errorf("portal-api volumes %v, the portal's %v: the token keys live there", api.Volumes, portal.Volumes)
	}
	if api.DependsOn["portal"].Condition != "service_healthy" {
		t.Error("portal-api must start once the portal is healthy (it wrote the token keys)")
	}
	if hc := strings.Join(api.Healthcheck.Test, " "); !strings.Contains(hc, "healthcheck") {
		t.Errorf("portal-api health check %q does not use `portal healthcheck`", hc)
	}
}

// The compose file configures every portal only through variables the code
// reads, with values the code accepts.
func TestComposePortalEnvironmentIsKnown(t *testing.T) {
	c := loadCompose(t)
	known := config.KnownEnv()
	for _, service := range []string{"portal", "portal-api"} {
		env := c.Services[service].Environment
		for name := range env {
			if !slices.Contains(known, name) {
				t.Errorf("docker-compose.yml sets %s for %s, which the portal does not read (known: %v)", name, service, known)
			}
		}
		if _, err := config.Load(config.Source{LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		}}); err != nil {
			t.Errorf("the portal would refuse the compose configuration of %s: %v", service, err)
		}
	}
	portal := c.Services["portal"]
	for _, name := range []string{
		config.EnvHTTPAddr, config.EnvPublicURL, config.EnvEventStoreURL,
		config.EnvMongoURL, config.EnvSMTPURL,
	} {
		if portal.Environment[name] == "" {
			t.Errorf("docker-compose.yml does not set %s for the portal", name)
		}
	}
	if got := portal.Environment[config.EnvEventStoreURL]; got != "esdb://eventstore:2113?tls=false" {
		t.Errorf("%s = %q", config.EnvEventStoreURL, got)
	}
}

var portalVar = regexp.MustCompile(`PORTAL_[A-Z0-9_]+`)

func TestDockerfile(t *testing.T) {
	df := string(read(t, "Dockerfile"))
	for _, name := range portalVar.FindAllString(df, -1) {
		if !slices.Contains(config.KnownEnv(), name) {
			t.Errorf("Dockerfile sets %s, which the portal does not read", name)
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/portal", "HEALTHCHECK", "healthcheck", "USER"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Contains(df, "USER root") || strings.Contains(df, "USER 0") {
		t.Error("the runtime image must not run as root")
	}
}

// The README documents every variable the portal reads, and only those.
func TestReadmeDocumentsEveryVariable(t *testing.T) {
	readme := string(read(t, "README.md"))
	for _, s := range config.Settings() {
		if !strings.Contains(readme, "| `"+s.Env+"`") {
			t.Errorf("README.md has no table row for %s", s.Env)
		}
	}
	for _, name := range portalVar.FindAllString(readme, -1) {
		if !slices.Contains(config.KnownEnv(), name) && !slices.Contains(ciVariables, name) {
			t.Errorf("README.md mentions %s, which nothing reads", name)
		}
	}
	for _, cmd := range []string{"go run ./cmd/portal", "go test ./..."} {
		if !strings.Contains(readme[:min(len(readme), 600)], cmd) {
			t.Errorf("README.md does not start with %q", cmd)
		}
	}
}

func TestCIScriptSetsRequireVariables(t *testing.T) {
	script := string(read(t, ".ci/run"))
	for _, name := range ciVariables {
		if !strings.Contains(script, name+"=1") {
			t.Errorf(".ci/run does not set %s=1", name)
		}
	}
	if !regexp.MustCompile(`go test( -[-a-z=0-9]+)* \./\.\.\.`).MatchString(script) {
		t.Error(".ci/run does not run the README's test command, go test ./...")
	}
}
