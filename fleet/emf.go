package fleet

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/elbguard/elbguard/engine"
)

// CloudWatch Embedded Metric Format names. The CDK app alarms on
// Namespace/MetricNonCompliant with dimension Function=sweeper.
const (
	MetricNamespace   = "ElbGuard"
	DimensionFunction = "Function"
	FunctionSweeper   = "sweeper"
	FunctionEnforcer  = "enforcer"

	MetricLoadBalancers = "LoadBalancers" // found by the run
	MetricNotReached    = "NotReached"    // left over when the run stopped before its deadline
	MetricNonCompliant  = "NonCompliant"
)

// MetricNames maps each status to its metric name.
var MetricNames = map[engine.Status]string{
	engine.StatusCompliant:     "Compliant",
	engine.StatusNonCompliant:  MetricNonCompliant,
	engine.StatusRemediated:    "Remediated",
	engine.StatusRolledBack:    "RolledBack",
	engine.StatusHeld:          "Held",
	engine.StatusDeferred:      "Deferred",
	engine.StatusNotFound:      "NotFound",
	engine.StatusExempt:        "Exempt",
	engine.StatusNotApplicable: "NotApplicable",
	engine.StatusSkipped:       "Skipped",
	engine.StatusGone:          "Gone",
	engine.StatusError:         "Error",
}

// EMF renders one Embedded Metric Format log line (without newline) with a
// count per status for a run of function (Function dimension).
func EMF(res *engine.Result, function string, now time.Time) ([]byte, error) {
	type metric struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	doc := map[string]any{DimensionFunction: function}
	var metrics []metric
	add := func(name string, v int) {
		metrics = append(metrics, metric{Name: name, Unit: "Count"})
		doc[name] = v
	}
	for _, s := range engine.Statuses {
		add(MetricNames[s], res.Counts[s])
	}
	add(MetricLoadBalancers, res.Found)
	add(MetricNotReached, res.Found-res.Processed)
	doc["_aws"] = map[string]any{
		"Timestamp": now.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  MetricNamespace,
			"Dimensions": [][]string{{DimensionFunction}},
			"Metrics":    metrics,
		}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode EMF: %w", err)
	}
	return b, nil
}
