//go:build integration

package test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/test/harness"
)

// enfStartLambda runs a bootstrap built with lambda.norpc under aws-lambda-rie
// and returns its enfInvoke URL and process.
func enfStartLambda(t *testing.T, m *harness.Moto, pkg string, env ...string) (string, *harness.Process) {
	t.Helper()
	rie := harness.Tool(t, "aws-lambda-rie")
	bootstrap := harness.Build(t, pkg, "lambda.norpc")
	addr := harness.FreeAddr(t)
	p := harness.Start(t, rie, []string{"--runtime-interface-emulator-address", addr, "--runtime-api-address", harness.FreeAddr(t), bootstrap},
		harness.WithEnv(append(m.Env(), env...)...))
	harness.WaitTCP(t, addr, 10*time.Second)
	return "http://" + addr + "/2015-03-31/functions/function/invocations", p
}

// enfInvoke posts one event to the emulator's enfInvoke API, as EventBridge would.
func enfInvoke(t *testing.T, url string, event []byte) fleet.Outcome {
	t.Helper()
	req, err := http.NewRequestWithContext(enfCtxT(t), http.MethodPost, url, bytes.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("enfInvoke: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out fleet.Outcome
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil {
		t.Fatalf("enfInvoke: got %s %s", resp.Status, body)
	}
	return out
}

// TestEnforceLambdaRIE runs both Lambda bootstraps under the Lambda runtime
// emulator against moto: the enforcer fixes the load balancer an event names
// and logs JSON with the request id; bad input is not an error; the sweeper
// emits EMF metrics.
func TestEnforceLambdaRIE(t *testing.T) {
	m := harness.StartMoto(t)
	enfCreateFleet(t, m)
	url, enforcer := enfStartLambda(t, m, "./functions/enforcer")

	out := enfInvoke(t, url, enfSampleEvent(t, "classic_create_load_balancer.json", enfSampleClassic, enfWebEnforce))
	if out.Result == nil || len(out.Result.Reports) != 1 || out.Result.Reports[0].Status != "remediated" {
		t.Errorf("enforcer: got %+v; want %s remediated", out, enfWebEnforce)
	}
	bad := enfInvoke(t, url, []byte(`{"hello": "world"}`))
	if !bad.BadInput || bad.Result != nil {
		t.Errorf("bad input: got %+v; want bad_input and no run", bad)
	}
	enfWaitLog(t, enforcer, `"request_id":"`)
	enfWaitLog(t, enforcer, `"msg":"bad input: event not handled and not retried"`)

	sweepURL, sweeper := enfStartLambda(t, m, "./functions/sweeper", "ELBGUARD_DRY_RUN=true")
	sweep := enfInvoke(t, sweepURL, enfSampleEvent(t, "scheduled.json"))
	if sweep.Result == nil || sweep.Result.Found != 9 || sweep.Result.Counts["non_compliant"] == 0 {
		t.Errorf("sweeper: got %+v; want 9 load balancers with some non_compliant", sweep.Result)
	}
	enfWaitLog(t, sweeper, `"CloudWatchMetrics":[{"Dimensions":[["Function"]]`)
	enfWaitLog(t, sweeper, `"Function":"sweeper"`)
}

// enfWaitLog waits until a process's log contains want.
func enfWaitLog(t *testing.T, p *harness.Process, want string) {
	t.Helper()
	harness.WaitContains(t, 5*time.Second, p.Name+" log", p.Logs, want)
}
