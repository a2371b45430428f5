package migrate

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText prints a result for people: the NLB, its listeners and target
// groups, the records, every call with its parameters (the plan, or what
// was done), and the findings.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	head := fmt.Sprintf("%s %s -> %s: %s", r.Operation, r.Classic, r.NLB.Name, r.Status)
	if r.NLB.DNSName != "" {
		head += fmt.Sprintf(" (%s)", r.NLB.DNSName)
	}
	fmt.Fprintln(&b, head)
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	if len(r.Listeners) > 0 {
		fmt.Fprintln(tw, "\nLISTENER\tFROM CLASSIC\tTARGET GROUP\tIDLE\tTLS")
		for _, l := range r.Listeners {
			tls := "-"
			if l.Certificate != "" {
				tls = l.SSLPolicy + " " + l.Certificate
			}
			fmt.Fprintf(tw, "%s:%d\t%s\t%s\t%ds\t%s\n", l.Protocol, l.Port, l.From, l.TargetGroup, l.IdleTimeout, tls)
		}
	}
	if len(r.TargetGroups) > 0 {
		fmt.Fprintln(tw, "\nTARGET GROUP\tPORT\tPROXY V2\tDRAIN\tHEALTH CHECK\tTARGETS")
		for _, tg := range r.TargetGroups {
			var ts []string
			for _, t := range tg.Targets {
				s := t.ID
				if t.State != "" {
					s += "=" + t.State
				}
				ts = append(ts, s)
			}
			fmt.Fprintf(tw, "%s\t%d\t%t\t%ds\t%s\t%s\n", tg.Name, tg.Port, tg.ProxyProtocolV2, tg.DeregistrationDelay, tg.HealthCheck, strings.Join(ts, " "))
		}
	}
	if len(r.Records) > 0 {
		fmt.Fprintln(tw, "\nRECORD\tTYPE\tZONE\tON NLB")
		for _, rec := range r.Records {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d%%\n", rec.Name, rec.Type, rec.Zone, rec.Weight)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	if len(r.Calls) > 0 {
		fmt.Fprintf(&b, "\nCALLS (in order)\n")
		for i, c := range r.Calls {
			fmt.Fprintf(&b, "%3d. %-13s %s %s\n", i+1, c.Status, c.API, c.Params)
			if c.Ref != "" {
				fmt.Fprintf(&b, "     returns ${%s}%s\n", c.Ref, arrow(c.Result))
			}
			if c.Error != "" {
				fmt.Fprintf(&b, "     error: %s\n", c.Error)
			}
		}
	}
	if len(r.Findings) > 0 {
		fmt.Fprintf(&b, "\nFINDINGS\n")
		for _, f := range r.Findings {
			fmt.Fprintf(&b, "  %s: %s\n", f.Rule, f.Detail)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func arrow(s string) string {
	if s == "" {
		return ""
	}
	return " = " + s
}
