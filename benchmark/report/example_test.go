package report_test

import (
	"fmt"

	"github.com/elbguard/elbguard/benchmark/report"
)

func ExampleTable() {
	r := report.Row{Scenario: "keep-alive GET", Metric: "throughput", Unit: "req/s", Better: report.Higher,
		Goal: &report.Goal{Versus: "nginx", Ratio: 1}}
	r.Set("elbguard-proxy", 31000)
	r.Set("nginx", 30000)
	r.Set("haproxy", 25000)
	fmt.Print(report.Table([]report.Row{r}, "elbguard-proxy",
		[]string{"elbguard-proxy", "nginx", "haproxy"}, []string{"nginx", "haproxy"}))
	// Output:
	// | scenario | figure | elbguard-proxy | nginx | haproxy | elbguard-proxy ÷ nginx | elbguard-proxy ÷ haproxy | goal | met |
	// | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |
	// | keep-alive GET | throughput (req/s, higher is better) | 31000 | 30000 | 25000 | 1.03× | 1.24× | ≥ 1.0× nginx (1.03×) | yes |
}
