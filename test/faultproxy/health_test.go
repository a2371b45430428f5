package faultproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

const targetHealthXML = `<DescribeTargetHealthResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">
  <DescribeTargetHealthResult>
    <TargetHealthDescriptions>
      <member>
        <HealthCheckPort>80</HealthCheckPort>
        <TargetHealth><State>healthy</State></TargetHealth>
        <Target><Port>80</Port><Id>i-aaa</Id></Target>
      </member>
      <member>
        <HealthCheckPort>80</HealthCheckPort>
        <TargetHealth><State>healthy</State></TargetHealth>
        <Target><Port>80</Port><Id>i-bbb</Id></Target>
      </member>
    </TargetHealthDescriptions>
  </DescribeTargetHealthResult>
</DescribeTargetHealthResponse>`

func TestTargetHealthRewritesNamedTargets(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, targetHealthXML)
	}))
	t.Cleanup(backend.Close)
	p, err := New(backend.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	p.Intercept("DescribeTargetHealth", TargetHealth(func(id string) string {
		if id == "i-bbb" {
			return "unhealthy"
		}
		return ""
	}))
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	resp, err := http.PostForm(srv.URL, url.Values{"Action": {"DescribeTargetHealth"}, "Version": {VersionV2}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	got := string(b)
	a, bb, _ := strings.Cut(got, "<Id>i-aaa</Id>")
	if !strings.Contains(a, "<State>healthy</State>") || !strings.Contains(bb, "<State>unhealthy</State>") || strings.Count(got, "<member>") != 2 {
		t.Errorf("got %s; want i-aaa healthy and i-bbb unhealthy", got)
	}
	if st := p.Stats()[Key(VersionV2, "DescribeTargetHealth")]; st.Forwarded != 1 || st.Faults["intercepted"] != 1 {
		t.Errorf("got stats %+v; want forwarded once and intercepted", st)
	}
}
