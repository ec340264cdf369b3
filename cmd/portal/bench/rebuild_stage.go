package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// adminTokenHeader is sent beside Authorization: Bearer, as the admin API
// is being built while this harness is.
const adminTokenHeader = "X-Admin-Token"

// stageRebuild asks the admin API to rebuild a read model and times it
// from the request to the switch of the "readmodels" document to the new
// version; the rate is the number of events in $all over that time.
func (r *runner) stageRebuild(ctx context.Context) {
	s := Stage{Name: StageRebuild, Kind: "product"}
	name := r.o.RebuildProjection
	switch {
	case r.adminToken == "":
		s.Status, s.Reason = StatusNotAvailable, "no admin token (with --url give BENCH_ADMIN_TOKEN or --admin-token)"
	case r.mongo == nil:
		s.Status, s.Reason = StatusNotAvailable, "the switch to the new version is read from the read-model database: "+r.mongoErr.Error()
	}
	if s.Status != "" {
		r.add(s)
		return
	}
	events := -1
	if r.esdb != nil {
		n, err := r.esdb.countEvents(ctx)
		if err != nil {
			s.note("counting the events in $all: %v", err)
		} else {
			events = n
		}
	}
	before, _, err := r.activeVersion(ctx, name)
	if err != nil {
		s.Status, s.Reason = StatusFailed, err.Error()
		r.add(s)
		return
	}
	r.logf("%s: POST /api/v1/admin/projections/%s/rebuild (%d events in $all), waiting for the switch from version %d", s.Name, name, events, before)

	start := time.Now()
	cpu0 := r.cpuNow()
	err = r.askRebuild(ctx, name)
	switch {
	case routeMissing(err):
		s.Status, s.Reason = StatusNotAvailable, "POST /api/v1/admin/projections/{name}/rebuild is not there yet"
	case isStatus(err, http.StatusUnauthorized, http.StatusForbidden):
		s.Status, s.Reason = StatusNotAvailable, fmt.Sprintf("the admin API refused the token (%v)", err)
	case err != nil:
		s.Status, s.Reason = StatusFailed, err.Error()
	}
	if s.Status != "" {
		r.add(s)
		return
	}
	// The answer's shape is the admin API's business; the switch of the
	// active version is the signal that the rebuild is done.
	timeout := max(2*time.Minute, time.Duration(events/2000)*time.Second)
	after, err := r.waitSwitch(ctx, name, before, timeout)
	elapsed := time.Since(start)
	if err != nil {
		s.Status, s.Reason = StatusFailed, err.Error()
		r.add(s)
		return
	}
	if cpu := r.cpuNow(); cpu0 >= 0 && cpu >= 0 {
		s.CPUSeconds = cpu - cpu0
	}
	s.figure("seconds", elapsed.Seconds())
	s.figure("versionBefore", float64(before))
	s.figure("versionAfter", float64(after))
	if events >= 0 {
		s.figure("events", float64(events))
		s.figure("eventsPerS", float64(events)/elapsed.Seconds())
	}
	s.note("events: those in $all (not $-prefixed) when the rebuild was asked for; time: from the request to the switch of %s", name)
	r.add(s)
}

// askRebuild sends the rebuild request, in a split run to the replica of
// role all. The admin API is being built
// while this harness is, so it tries the paths and credentials it may
// settle on: under /api/v1 or at the root, the admin token as the bearer
// (and in X-Admin-Token) or the owner's session with the token beside it.
func (r *runner) askRebuild(ctx context.Context, name string) error {
	api := r.api
	for _, b := range r.background {
		if b.role == RoleAll { // a replica of role api refuses to rebuild
			api = &apiClient{base: "http://" + b.child.httpAddr, hc: r.api.hc, session: r.api.session, org: r.api.org}
		}
	}
	var err error
	for _, base := range []string{apiBase, ""} {
		for _, bearer := range []string{r.adminToken, api.session} {
			header := map[string]string{"Authorization": "Bearer " + bearer, adminTokenHeader: r.adminToken}
			_, err = api.call(ctx, http.MethodPost, base+"/admin/projections/"+name+"/rebuild", "POST /admin/projections/{name}/rebuild", []byte("{}"), header)
			if routeMissing(err) {
				break // the next base path
			}
			if !isStatus(err, http.StatusUnauthorized, http.StatusForbidden) {
				return err
			}
		}
		if !routeMissing(err) {
			return err
		}
	}
	return err
}

// waitSwitch polls the active version of name until it passes before.
func (r *runner) waitSwitch(ctx context.Context, name string, before int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		v, _, err := r.activeVersion(ctx, name)
		if err != nil {
			return 0, err
		}
		if v > before {
			return v, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s still at version %d %v after the rebuild was asked for", name, before, timeout)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// isStatus reports whether err is an answer with one of the statuses.
func isStatus(err error, statuses ...int) bool {
	var se *statusError
	if !errors.As(err, &se) {
		return false
	}
	for _, s := range statuses {
		if se.status == s {
			return true
		}
	}
	return false
}
