package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/fleet"
)

// addAlarms alarms to AlarmTopic on: any message in either queue, any
// function error, any non-compliant load balancer after a sweep, any load
// balancer a sweep deferred (its change or error budget was spent), and any
// load balancer a sweep or an enforcer run left in status error. Missing
// data (no failures, no sweep in the period) is not a breach.
func addAlarms(e *Enforcer) {
	action := awscloudwatchactions.NewSnsAction(e.AlarmTopic)
	add := func(id, description string, metric awscloudwatch.IMetric) {
		a := awscloudwatch.NewAlarm(e.Construct, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			Threshold:          jsii.Number(0),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			EvaluationPeriods:  jsii.Number(1),
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
	}
	add("EventDeadLetterAlarm", "elbguard: EventBridge could not deliver events to a function; inspect the dead-letter queue",
		queueDepth(e.EventDeadLetterQueue))
	add("FailureQueueAlarm", "elbguard: a function invocation failed after its retries; inspect the failure queue",
		queueDepth(e.FailureQueue))
	add("EnforcerErrorsAlarm", "elbguard: the enforcer function returned errors", functionErrors(e.EnforcerFunction))
	add("SweeperErrorsAlarm", "elbguard: the sweeper function returned errors", functionErrors(e.SweeperFunction))
	add("NonCompliantAlarm", "elbguard: the last sweep found non-compliant load balancers (audit mode, or remediation failed)",
		// The sweeper's Embedded Metric Format count of load balancers
		// left non_compliant by a sweep (fleet/emf.go).
		awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String(fleet.MetricNamespace),
			MetricName:    jsii.String(fleet.MetricNonCompliant),
			DimensionsMap: &map[string]*string{fleet.DimensionFunction: jsii.String(fleet.FunctionSweeper)},
			Statistic:     jsii.String("Maximum"),
			Period:        awscdk.Duration_Hours(jsii.Number(1)),
		}))
	add("DeferredAlarm", "elbguard: a sweep left load balancers deferred: it changed its maximum (maxChanges, ELBGUARD_MAX_CHANGES) or stopped after maxErrors failed changes; the next sweep takes them. Read the sweep's report: many changes due at once, or failing ones",
		awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String(fleet.MetricNamespace),
			MetricName:    jsii.String(fleet.MetricDeferred),
			DimensionsMap: &map[string]*string{fleet.DimensionFunction: jsii.String(fleet.FunctionSweeper)},
			Statistic:     jsii.String("Maximum"),
			Period:        awscdk.Duration_Hours(jsii.Number(1)),
		}))
	for _, fn := range []string{fleet.FunctionSweeper, fleet.FunctionEnforcer} {
		// A load balancer left in error: above all a port left without its
		// listener (kept in an elbguard:restore: tag until a run restores it),
		// also failed remediations and unreadable elbguard tags.
		add(map[string]string{fleet.FunctionSweeper: "SweepErrorAlarm", fleet.FunctionEnforcer: "EnforceErrorAlarm"}[fn],
			"elbguard: the "+fn+" left load balancers in status error (a failed change, a port without its listener, an unreadable elbguard tag); read the report's findings",
			awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
				Namespace:     jsii.String(fleet.MetricNamespace),
				MetricName:    jsii.String(fleet.MetricNames[engine.StatusError]),
				DimensionsMap: &map[string]*string{fleet.DimensionFunction: jsii.String(fn)},
				Statistic:     jsii.String("Maximum"),
				Period:        awscdk.Duration_Minutes(jsii.Number(5)),
			}))
	}
}

func queueDepth(q awssqs.Queue) awscloudwatch.IMetric {
	return q.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
		Statistic: jsii.String("Maximum"),
		Period:    awscdk.Duration_Minutes(jsii.Number(5)),
	})
}

func functionErrors(fn awslambda.Function) awscloudwatch.IMetric {
	return fn.MetricErrors(&awscloudwatch.MetricOptions{
		Statistic: jsii.String("Sum"),
		Period:    awscdk.Duration_Minutes(jsii.Number(5)),
	})
}
