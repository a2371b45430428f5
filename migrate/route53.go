package migrate

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// A Route 53 alias record that points at the Classic load balancer is
// shifted by turning it into two weighted alias records with the same name
// and type: one at the Classic load balancer, one at the NLB, each with a
// set identifier that names the migration (records cannot carry tags).
// --shift changes their weights; --undo puts the single record back.

// setID is the set identifier of the weighted record at side ("classic" or
// "nlb") of the migration of classic.
func setID(classic, side string) string { return "elbguard-migrate " + classic + " " + side }

// aliasRecord is one name and type whose traffic the migration moves: the
// Classic's own record (simple), or the weighted pair it became.
type aliasRecord struct {
	zone         string
	simple       *r53types.ResourceRecordSet // the original record, unshifted
	classic, nlb *r53types.ResourceRecordSet // the weighted pair, once shifted
	name, rrtype string
}

// weight is the NLB's share in percent.
func (a *aliasRecord) weight() int64 {
	if a.nlb == nil {
		return 0
	}
	return aws.ToInt64(a.nlb.Weight)
}

// findRecords lists, in every hosted zone of the account, the A alias
// records that point at the Classic load balancer, and the weighted pairs
// this migration made. Others that point at it (another routing policy,
// AAAA) are findings: not shifted.
func (m *Migrator) findRecords(ctx context.Context, s *Source, nlbDNS string, res *Result) ([]*aliasRecord, error) {
	if m.c.Route53 == nil {
		return nil, nil
	}
	classicDNS := s.dnsName()
	name := aws.ToString(s.LB.LoadBalancerName)
	var out []*aliasRecord
	zones := &route53.ListHostedZonesInput{}
	for {
		page, err := m.c.Route53.ListHostedZones(ctx, zones)
		if err != nil {
			return nil, fmt.Errorf("list hosted zones: %w", err)
		}
		for _, z := range page.HostedZones {
			zone := strings.TrimPrefix(aws.ToString(z.Id), "/hostedzone/")
			found := map[string]*aliasRecord{}
			in := &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zone)}
			for {
				rp, err := m.c.Route53.ListResourceRecordSets(ctx, in)
				if err != nil {
					return nil, fmt.Errorf("list records of hosted zone %s: %w", zone, err)
				}
				for i := range rp.ResourceRecordSets {
					rr := rp.ResourceRecordSets[i]
					if rr.AliasTarget == nil {
						continue
					}
					target := normalizeDNS(aws.ToString(rr.AliasTarget.DNSName))
					id := aws.ToString(rr.SetIdentifier)
					atClassic := target == classicDNS
					atNLB := nlbDNS != "" && target == normalizeDNS(nlbDNS)
					if !atClassic && !(atNLB && id == setID(name, "nlb")) {
						continue
					}
					if rr.Type != r53types.RRTypeA {
						res.find(RuleRecordNotShifted, "record %s %s in zone %s points at %s: not shifted (the NLB is IPv4 only)", aws.ToString(rr.Name), rr.Type, zone, name)
						continue
					}
					key := strings.ToLower(aws.ToString(rr.Name))
					a := found[key]
					if a == nil {
						a = &aliasRecord{zone: zone, name: aws.ToString(rr.Name), rrtype: string(rr.Type)}
						found[key] = a
					}
					switch {
					case id == "" && atClassic:
						a.simple = &rr
					case id == setID(name, "classic") && atClassic:
						a.classic = &rr
					case id == setID(name, "nlb"):
						a.nlb = &rr
					default:
						res.find(RuleRecordNotShifted, "record %s A (set %q) in zone %s points at %s with a routing policy of its own: not shifted; move it yourself", aws.ToString(rr.Name), id, zone, name)
						delete(found, key)
					}
				}
				if !rp.IsTruncated {
					break
				}
				in.StartRecordName, in.StartRecordType, in.StartRecordIdentifier = rp.NextRecordName, rp.NextRecordType, rp.NextRecordIdentifier
			}
			keys := slices.Sorted(func(yield func(string) bool) {
				for k := range found {
					if !yield(k) {
						return
					}
				}
			})
			for _, k := range keys {
				a := found[k]
				if a.simple == nil && (a.classic == nil || a.nlb == nil) {
					res.find(RuleRecordNotShifted, "record %s in zone %s has only one half of this migration's weighted pair: not touched; fix it by hand", a.name, zone)
					continue
				}
				out = append(out, a)
			}
		}
		if !page.IsTruncated {
			break
		}
		zones.Marker = page.NextMarker
	}
	return out, nil
}

// nameRecords names, in the result, the records that point at the Classic
// load balancer and their NLB share. A failure to read them is a finding.
func (m *Migrator) nameRecords(ctx context.Context, s *Source, res *Result) error {
	recs, err := m.findRecords(ctx, s, res.NLB.DNSName, res)
	if err != nil {
		// Naming the records is information for the migration, not a
		// condition of it (a caller may lack route53:List*); --shift and
		// --undo, which act on them, fail instead.
		res.find(RuleRecordNotShifted, "the Route 53 records that point at %s could not be read, so none is named: %v", res.Classic, err)
		return nil
	}
	for _, a := range recs {
		res.Records = append(res.Records, Record{Zone: a.zone, Name: a.name, Type: a.rrtype, Weight: a.weight()})
		if a.simple != nil {
			res.find(RuleRecord, "record %s A in zone %s is an alias of %s: `elbguard migrate --shift PERCENT %s` moves that share of its traffic to the NLB", a.name, a.zone, res.Classic, res.Classic)
		}
	}
	return nil
}

// alias returns a weighted alias record.
func weighted(name, id string, weight int64, zoneID, dns string, evaluate bool) *r53types.ResourceRecordSet {
	return &r53types.ResourceRecordSet{Name: aws.String(name), Type: r53types.RRTypeA, SetIdentifier: aws.String(id), Weight: aws.Int64(weight),
		AliasTarget: &r53types.AliasTarget{HostedZoneId: aws.String(zoneID), DNSName: aws.String(dns), EvaluateTargetHealth: evaluate}}
}

// shiftChanges are the changes that put percent of a record's traffic on
// the NLB; none when it is there already.
func shiftChanges(a *aliasRecord, classic string, nlb NLB, percent int64) []r53types.Change {
	if a.simple != nil {
		t := a.simple.AliasTarget
		return []r53types.Change{
			{Action: r53types.ChangeActionDelete, ResourceRecordSet: a.simple},
			{Action: r53types.ChangeActionCreate, ResourceRecordSet: weighted(a.name, setID(classic, "classic"), 100-percent, aws.ToString(t.HostedZoneId), aws.ToString(t.DNSName), t.EvaluateTargetHealth)},
			{Action: r53types.ChangeActionCreate, ResourceRecordSet: weighted(a.name, setID(classic, "nlb"), percent, nlb.ZoneID, nlb.DNSName, t.EvaluateTargetHealth)},
		}
	}
	if a.weight() == percent && aws.ToInt64(a.classic.Weight) == 100-percent {
		return nil
	}
	c, n := *a.classic, *a.nlb
	c.Weight, n.Weight = aws.Int64(100-percent), aws.Int64(percent)
	return []r53types.Change{
		{Action: r53types.ChangeActionUpsert, ResourceRecordSet: &c},
		{Action: r53types.ChangeActionUpsert, ResourceRecordSet: &n},
	}
}

// restoreChanges put the record back as it was: one alias at the Classic
// load balancer.
func restoreChanges(a *aliasRecord) []r53types.Change {
	if a.simple != nil {
		return nil
	}
	t := a.classic.AliasTarget
	return []r53types.Change{
		{Action: r53types.ChangeActionDelete, ResourceRecordSet: a.classic},
		{Action: r53types.ChangeActionDelete, ResourceRecordSet: a.nlb},
		{Action: r53types.ChangeActionCreate, ResourceRecordSet: &r53types.ResourceRecordSet{Name: aws.String(a.name), Type: r53types.RRTypeA, AliasTarget: t}},
	}
}

// recordCalls groups changes into one ChangeResourceRecordSets call per
// hosted zone (each is atomic).
func recordCalls(recs []*aliasRecord, comment string, changes func(*aliasRecord) []r53types.Change) []*Call {
	byZone := map[string][]r53types.Change{}
	var zones []string
	for _, a := range recs {
		ch := changes(a)
		if len(ch) == 0 {
			continue
		}
		if _, ok := byZone[a.zone]; !ok {
			zones = append(zones, a.zone)
		}
		byZone[a.zone] = append(byZone[a.zone], ch...)
	}
	var out []*Call
	for _, z := range zones {
		out = append(out, newCall("route53:ChangeResourceRecordSets", "", &route53.ChangeResourceRecordSetsInput{
			HostedZoneId: aws.String(z), ChangeBatch: &r53types.ChangeBatch{Comment: aws.String(comment), Changes: byZone[z]},
		}))
	}
	return out
}
