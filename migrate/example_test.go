package migrate_test

import (
	"fmt"

	"github.com/elbguard/elbguard/migrate"
)

// The Classic → NLB security policy table: each Classic predefined policy
// and the NLB policy its SSL listener gets (none: held until --ssl-policy).
func ExampleSecurityPolicies() {
	for _, m := range migrate.SecurityPolicies[:4] {
		fmt.Printf("%s -> %s\n", m.Classic, m.NLB)
	}
	fmt.Println(migrate.NLBName("web"))
	// Output:
	// ELBSecurityPolicy-TLS-1-2-2017-01 -> ELBSecurityPolicy-TLS13-1-2-2021-06
	// ELBSecurityPolicy-TLS-1-1-2017-01 -> ELBSecurityPolicy-TLS13-1-1-2021-06
	// ELBSecurityPolicy-2016-08 -> ELBSecurityPolicy-TLS13-1-0-2021-06
	// ELBSecurityPolicy-2015-05 -> ELBSecurityPolicy-TLS13-1-0-2021-06
	// web-nlb
}
