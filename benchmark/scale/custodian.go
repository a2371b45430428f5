package scale

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/elbguard/elbguard/test/peer"
)

// CustodianPolicy is the Cloud Custodian policy elbguard's audit is
// compared with: Classic ELBs with a listener that is not TCP or SSL.
const CustodianPolicy = `policies:
  - name: elb-listeners-not-tcp-ssl
    resource: aws.elb
    filters:
      - type: value
        key: "ListenerDescriptions[].Listener.Protocol"
        op: intersect
        value: [HTTP, HTTPS]
`

// custodianCalls runs the audit once more, untimed, through a counting
// reverse proxy in front of the emulator, and returns Custodian's calls.
func custodianCalls(ctx context.Context, cfg Config, env []string, n int) (Calls, error) {
	var moto string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "AWS_ENDPOINT_URL="); ok {
			moto = v
		}
	}
	front, err := startCountFront(moto)
	if err != nil {
		return Calls{}, err
	}
	defer front.Close()
	fenv := append(append([]string(nil), env...), "AWS_ENDPOINT_URL="+front.URL)
	if _, err := custodianAudit(ctx, cfg, fenv, n); err != nil {
		return Calls{}, err
	}
	return front.Calls(fmt.Sprintf("Cloud Custodian audit of %d (counted by a reverse proxy in front of moto, in an extra untimed run)", n)), nil
}

// custodianAudit runs `custodian run` with CustodianPolicy against the
// emulator (cache off, so it really describes) and checks that it found
// all n load balancers.
func custodianAudit(ctx context.Context, cfg Config, env []string, n int) (time.Duration, error) {
	bin, err := peer.Look(cfg.Root, "custodian")
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp(cfg.Dir, "custodian-")
	if err != nil {
		return 0, fmt.Errorf("make custodian dir: %w", err)
	}
	policy := filepath.Join(dir, "policy.yml")
	if err := os.WriteFile(policy, []byte(CustodianPolicy), 0o644); err != nil {
		return 0, fmt.Errorf("write custodian policy: %w", err)
	}
	// botocore reads an empty AWS_PROFILE as a profile named "": drop the
	// empty settings moto's environment uses to mask the caller's own.
	var cenv []string
	for _, kv := range env {
		if !strings.HasSuffix(kv, "=") {
			cenv = append(cenv, kv)
		}
	}
	cenv = append(cenv, "HOME="+dir)
	out := filepath.Join(dir, "out")
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	start := time.Now()
	res, err := peer.Run(ctx, bin, []string{"run", "--cache-period", "0", "--region", "us-east-1", "-s", out, policy},
		peer.Options{Env: cenv, Dir: dir})
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("custodian run: %w", err)
	}
	if res.Code != 0 {
		return 0, fmt.Errorf("custodian run exited %d: %s", res.Code, tail(res.Stderr))
	}
	b, err := os.ReadFile(filepath.Join(out, "elb-listeners-not-tcp-ssl", "resources.json"))
	if err != nil {
		return 0, fmt.Errorf("read custodian resources: %w", err)
	}
	var found []json.RawMessage
	if err := json.Unmarshal(b, &found); err != nil {
		return 0, fmt.Errorf("decode custodian resources: %w", err)
	}
	if len(found) != n {
		return 0, fmt.Errorf("custodian found %d non-TCP/SSL load balancers; want %d", len(found), n)
	}
	cfg.Log.Info("custodian audit", "n", n, "found", len(found), "took", took.Round(time.Millisecond))
	return took, nil
}

func tail(s string) string {
	if len(s) > 600 {
		return "…" + s[len(s)-600:]
	}
	return s
}
