package faultproxy_test

import (
	"fmt"
	"net/http/httptest"

	"github.com/elbguard/elbguard/test/faultproxy"
)

// A proxy in front of moto_server that throttles the first two
// CreateLoadBalancerListeners calls of the Classic API and resets every
// fifth ELBv2 request.
func Example() {
	p, err := faultproxy.New("http://127.0.0.1:5000", 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	err = p.SetRules(
		faultproxy.Rule{Action: "CreateLoadBalancerListeners", Version: faultproxy.VersionClassic, Kind: faultproxy.Throttle, First: 2},
		faultproxy.Rule{Version: faultproxy.VersionV2, Kind: faultproxy.Reset, Every: 5},
	)
	fmt.Println(err)
	srv := httptest.NewServer(p) // point AWS_ENDPOINT_URL at srv.URL
	defer srv.Close()
	fmt.Println(len(p.Stats()))
	// Output:
	// <nil>
	// 0
}
