package faultproxy

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
)

// targetMember is one <member> of a DescribeTargetHealth answer, with the
// target id and the state captured.
var (
	targetMember = regexp.MustCompile(`(?s)<member>.*?</member>`)
	targetID     = regexp.MustCompile(`(?s)<Target>.*?<Id>([^<]*)</Id>`)
	targetState  = regexp.MustCompile(`<State>[^<]*</State>`)
)

// TargetHealth returns an Interceptor for DescribeTargetHealth (ELBv2) that
// forwards the request and rewrites the health state of the targets for
// which state returns a non-empty value ("unhealthy", "initial", ...): moto
// reports every registered target healthy, and the verification after a
// change needs targets that turn unhealthy. Other answers (errors, other
// targets) pass unchanged.
func TargetHealth(state func(targetID string) string) Interceptor {
	return func(w http.ResponseWriter, r *http.Request, _ url.Values, forward http.Handler) {
		rec := httptest.NewRecorder()
		forward.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if rec.Code == http.StatusOK {
			body = targetMember.ReplaceAllFunc(body, func(m []byte) []byte {
				id := targetID.FindSubmatch(m)
				if id == nil {
					return m
				}
				s := state(string(id[1]))
				if s == "" {
					return m
				}
				return targetState.ReplaceAll(m, []byte("<State>"+s+"</State>"))
			})
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		_, _ = bytes.NewReader(body).WriteTo(w)
	}
}
