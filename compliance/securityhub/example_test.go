package securityhub_test

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/elbguard/elbguard/compliance/securityhub"
	"github.com/elbguard/elbguard/engine"
)

func ExampleFindings() {
	r := engine.Report{Name: "web", Type: engine.TypeClassic, Mode: engine.ModeAudit, Status: engine.StatusNonCompliant,
		Findings: []engine.Finding{{Rule: engine.RuleListenerProtocol, Detail: "listener 80 is HTTP:80 -> HTTP:80; want TCP:80 -> TCP:80"}}}
	for _, f := range securityhub.Findings(r, securityhub.Context{Account: "123456789012", Region: "us-east-1", Now: time.Now()}) {
		fmt.Println(aws.ToString(f.GeneratorId), f.Compliance.Status, f.Severity.Label)
	}
	// Output:
	// elbguard/proxy_protocol PASSED INFORMATIONAL
	// elbguard/listener_protocol FAILED MEDIUM
}
