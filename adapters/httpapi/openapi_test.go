package httpapi_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/orgportal/onboarding/adapters/httpapi"
)

var ginParam = regexp.MustCompile(`:([A-Za-z]+)`)

// The OpenAPI document lists exactly the routes Gin serves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.want(e.do(req{Method: "GET", Path: "/openapi.json"}), 200, "")
	if r.str("openapi") == "" || !strings.HasPrefix(r.str("openapi"), "3.") {
		t.Fatalf("not an OpenAPI 3 document: %.200s", r.Raw)
	}
	documented := map[string]bool{}
	for path, item := range r.Body["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			documented[strings.ToUpper(method)+" "+httpapi.BasePath+path] = true
			o := op.(map[string]any)
			if o["operationId"] == nil || o["responses"] == nil {
				t.Errorf("%s %s: incomplete operation", method, path)
			}
			params := 0
			if ps, ok := o["parameters"].([]any); ok {
				for _, p := range ps {
					if p.(map[string]any)["in"] == "path" {
						params++
					}
				}
			}
			if want := strings.Count(path, "{"); params != want {
				t.Errorf("%s %s: %d path parameters documented, want %d", method, path, params, want)
			}
		}
	}

	api, err := httpapi.New(httpapi.Deps{Commands: e.h})
	must(t, err)
	registered := map[string]bool{}
	for _, route := range api.Handler().Routes() {
		registered[route.Method+" "+ginParam.ReplaceAllString(route.Path, "{$1}")] = true
	}
	for _, k := range sortedKeys(registered) {
		if !documented[k] {
			t.Errorf("route %s is served but not in openapi.json", k)
		}
	}
	for _, k := range sortedKeys(documented) {
		if !registered[k] {
			t.Errorf("openapi.json documents %s, which is not served", k)
		}
	}
	if len(registered) < 20 {
		t.Errorf("only %d routes registered", len(registered))
	}
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
