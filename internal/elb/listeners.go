package elb

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/elbv2api"
	"github.com/berth-dev/berth/internal/store"
)

// ListenersPrefix holds one listenerRecord per listener, under
// /elb/listeners/<load balancer name>/<listener id>. A listener's rules are
// kept in its record, so a listener and its rules change atomically.
const ListenersPrefix = "/elb/listeners/"

const (
	maxRulesPerListener   = 100
	maxTargetGroupsPerFwd = 5
	defaultSSLPolicy      = "ELBSecurityPolicy-2016-08"
)

// listenerRecord is a stored listener with its non-default rules.
type listenerRecord struct {
	Listener      elbv2api.Listener
	DefaultRuleID string
	Rules         []ruleRecord `json:",omitempty"`
	Tags          []elbv2api.Tag
}

// ruleRecord is a stored non-default rule.
type ruleRecord struct {
	ID         string
	Priority   int32
	Conditions []elbv2api.RuleCondition
	Actions    []elbv2api.Action
	Tags       []elbv2api.Tag `json:",omitempty"`
}

func listenerKey(lbName, id string) string { return ListenersPrefix + lbName + "/" + id }

// listenerARN derives a listener's ARN from its load balancer's.
func listenerARN(lbARN, id string) string {
	return strings.Replace(lbARN, ":loadbalancer/", ":listener/", 1) + "/" + id
}

// elbARN splits a listener or listener-rule ARN of this region and account
// into its load balancer kind (app, net), name and id, the listener id and
// (for rules) the rule id.
type elbARN struct {
	lbKind, lbName, lbID, listenerID, ruleID string
}

func (e *ELB) splitARN(s, kind string) (elbARN, bool) {
	rest, ok := strings.CutPrefix(s, e.arnPrefix()+kind+"/")
	if !ok {
		return elbARN{}, false
	}
	parts := strings.Split(rest, "/")
	n := 4
	if kind == "listener-rule" {
		n = 5
	}
	if len(parts) != n || (parts[0] != "app" && parts[0] != "net") || slices.Contains(parts, "") {
		return elbARN{}, false
	}
	a := elbARN{lbKind: parts[0], lbName: parts[1], lbID: parts[2], listenerID: parts[3]}
	if n == 5 {
		a.ruleID = parts[4]
	}
	return a, true
}

func listenerNotFound() error {
	return elbv2api.Errorf(elbv2api.CodeListenerNotFoundException, "One or more listeners not found")
}

// listenerByARN loads a listener; a missing one is ListenerNotFound.
func (e *ELB) listenerByARN(ctx context.Context, arn string) (listenerRecord, int64, error) {
	var rec listenerRecord
	a, ok := e.splitARN(arn, "listener")
	if !ok {
		if !strings.HasPrefix(arn, "arn:") {
			return rec, 0, elbv2api.ValidationErrorf("'%s' is not a valid listener ARN", arn)
		}
		return rec, 0, listenerNotFound()
	}
	rev, err := e.getJSON(ctx, listenerKey(a.lbName, a.listenerID), &rec)
	if errors.Is(err, store.ErrNotFound) || err == nil && elbv2api.Value(rec.Listener.ListenerArn) != arn {
		return rec, 0, listenerNotFound()
	}
	return rec, rev, err
}

// isALB reports whether a load balancer ARN names an application load
// balancer.
func isALB(lbARN string) bool { return strings.Contains(lbARN, ":loadbalancer/app/") }

// checkListenerProtocol checks a listener's protocol, port and certificates
// against its load balancer's type.
func checkListenerProtocol(alb bool, p elbv2api.ProtocolEnum, certs []elbv2api.Certificate) error {
	switch {
	case alb && !httpLike(p):
		return elbv2api.ValidationErrorf("Listener protocol '%s' must be one of 'HTTPS, HTTP'", p)
	case !alb && !slices.Contains([]elbv2api.ProtocolEnum{elbv2api.ProtocolEnumTCP, elbv2api.ProtocolEnumTLS, elbv2api.ProtocolEnumUDP, elbv2api.ProtocolEnumTCPUDP}, p):
		return elbv2api.ValidationErrorf("Listener protocol '%s' must be one of 'TCP_UDP, TLS, UDP, TCP'", p)
	}
	secure := p == elbv2api.ProtocolEnumHTTPS || p == elbv2api.ProtocolEnumTLS
	if secure && len(certs) == 0 {
		return elbv2api.Errorf(elbv2api.CodeCertificateNotFoundException, "A certificate must be specified for %s listeners", p)
	}
	if !secure && len(certs) > 0 {
		return elbv2api.ValidationErrorf("Certificates cannot be specified for %s listeners", p)
	}
	for _, c := range certs {
		if elbv2api.Value(c.CertificateArn) == "" {
			return elbv2api.ValidationErrorf("A certificate ARN must be specified")
		}
	}
	return nil
}

// compatible reports whether a listener protocol can forward to a target
// group.
func compatible(alb bool, listener elbv2api.ProtocolEnum, tg elbv2api.TargetGroup) bool {
	tt := elbv2api.Value(tg.TargetType)
	p := elbv2api.Value(tg.Protocol)
	if alb {
		return tt == elbv2api.TargetTypeEnumLambda || tt != elbv2api.TargetTypeEnumAlb && httpLike(p)
	}
	if tt == elbv2api.TargetTypeEnumLambda {
		return false
	}
	switch listener {
	case elbv2api.ProtocolEnumTCP:
		return p == elbv2api.ProtocolEnumTCP || p == elbv2api.ProtocolEnumTCPUDP
	case elbv2api.ProtocolEnumTLS:
		return p == elbv2api.ProtocolEnumTCP || p == elbv2api.ProtocolEnumTLS
	case elbv2api.ProtocolEnumUDP:
		return p == elbv2api.ProtocolEnumUDP || p == elbv2api.ProtocolEnumTCPUDP
	case elbv2api.ProtocolEnumTCPUDP:
		return p == elbv2api.ProtocolEnumTCPUDP
	}
	return false
}

var fixedResponseContentTypes = []string{"text/plain", "text/css", "text/html", "application/javascript", "application/json"}

// checkActions validates the actions of a listener or rule of the load
// balancer lbARN with the given listener protocol and returns them as ELB
// reports them: ordered, forward actions with both TargetGroupArn (for a
// single target group) and ForwardConfig.
func (e *ELB) checkActions(ctx context.Context, lbARN string, protocol elbv2api.ProtocolEnum, actions []elbv2api.Action) ([]elbv2api.Action, error) {
	if len(actions) == 0 {
		return nil, elbv2api.ValidationErrorf("At least one action must be specified")
	}
	alb := isALB(lbARN)
	out := make([]elbv2api.Action, 0, len(actions))
	orders := map[int32]bool{}
	for _, a := range actions {
		if a.Order != nil {
			if orders[*a.Order] {
				return nil, elbv2api.ValidationErrorf("The action order '%d' is specified more than once", *a.Order)
			}
			orders[*a.Order] = true
		}
		switch a.Type {
		case elbv2api.ActionTypeEnumForward:
			fwd, err := e.checkForward(ctx, lbARN, alb, protocol, a)
			if err != nil {
				return nil, err
			}
			out = append(out, fwd)
		case elbv2api.ActionTypeEnumFixedResponse:
			if !alb {
				return nil, elbv2api.Errorf(elbv2api.CodeInvalidLoadBalancerActionException, "Action type 'fixed-response' is supported only by application load balancers")
			}
			c := a.FixedResponseConfig
			if c == nil {
				return nil, elbv2api.ValidationErrorf("A fixed-response action must have a FixedResponseConfig")
			}
			if ct := elbv2api.Value(c.ContentType); ct != "" && !slices.Contains(fixedResponseContentTypes, ct) {
				return nil, elbv2api.ValidationErrorf("Content type '%s' must be one of '%s'", ct, strings.Join(fixedResponseContentTypes, ", "))
			}
			if len(elbv2api.Value(c.MessageBody)) > 1024 {
				return nil, elbv2api.ValidationErrorf("The fixed-response message body cannot be longer than 1024 characters")
			}
			out = append(out, elbv2api.Action{Type: a.Type, Order: a.Order, FixedResponseConfig: c})
		case elbv2api.ActionTypeEnumRedirect, elbv2api.ActionTypeEnumAuthenticateOidc, elbv2api.ActionTypeEnumAuthenticateCognito, elbv2api.ActionTypeEnumJwtValidation:
			return nil, elbv2api.Errorf(elbv2api.CodeOperationNotPermittedException, "berth does not support '%s' actions yet: use forward or fixed-response", a.Type)
		default:
			return nil, elbv2api.ValidationErrorf("Action type '%s' must be one of 'forward, fixed-response'", a.Type)
		}
	}
	if len(out) > 1 {
		return nil, elbv2api.Errorf(elbv2api.CodeTooManyActionsException, "Only one forward or fixed-response action can be specified")
	}
	slices.SortStableFunc(out, func(a, b elbv2api.Action) int { return cmp.Compare(elbv2api.Value(a.Order), elbv2api.Value(b.Order)) })
	return out, nil
}

func (e *ELB) checkForward(ctx context.Context, lbARN string, alb bool, protocol elbv2api.ProtocolEnum, a elbv2api.Action) (elbv2api.Action, error) {
	var tuples []elbv2api.TargetGroupTuple
	var stick *elbv2api.TargetGroupStickinessConfig
	if a.ForwardConfig != nil {
		tuples = a.ForwardConfig.TargetGroups
		stick = a.ForwardConfig.TargetGroupStickinessConfig
	}
	if a.TargetGroupArn != nil {
		if len(tuples) > 1 || len(tuples) == 1 && elbv2api.Value(tuples[0].TargetGroupArn) != *a.TargetGroupArn {
			return a, elbv2api.ValidationErrorf("You cannot specify a target group ARN in both the action and its forward config unless they are the same")
		}
		if len(tuples) == 0 {
			tuples = []elbv2api.TargetGroupTuple{{TargetGroupArn: a.TargetGroupArn}}
		}
	}
	switch {
	case len(tuples) == 0:
		return a, elbv2api.ValidationErrorf("A target group ARN must be specified for a forward action")
	case len(tuples) > maxTargetGroupsPerFwd:
		return a, elbv2api.Errorf(elbv2api.CodeTooManyTargetGroupsException, "A forward action can have at most %d target groups", maxTargetGroupsPerFwd)
	case len(tuples) > 1 && !alb:
		return a, elbv2api.ValidationErrorf("A forward action of a network load balancer can have only one target group")
	}
	seen := map[string]bool{}
	norm := make([]elbv2api.TargetGroupTuple, len(tuples))
	for i, t := range tuples {
		arn := elbv2api.Value(t.TargetGroupArn)
		if arn == "" {
			return a, elbv2api.ValidationErrorf("A target group ARN must be specified for a forward action")
		}
		if seen[arn] {
			return a, elbv2api.ValidationErrorf("Target group '%s' is specified more than once", arn)
		}
		seen[arn] = true
		w := int32(1)
		if t.Weight != nil {
			w = *t.Weight
		}
		if w < 0 || w > 999 {
			return a, elbv2api.ValidationErrorf("Target group weight '%d' must be from 0 to 999", w)
		}
		tg, _, err := e.targetGroupByARN(ctx, arn)
		if err != nil {
			return a, err
		}
		if other := slices.DeleteFunc(slices.Clone(tg.TargetGroup.LoadBalancerArns), func(s string) bool { return s == lbARN }); len(other) > 0 {
			return a, elbv2api.Errorf(elbv2api.CodeTargetGroupAssociationLimitException, "The following target groups cannot be associated with more than one load balancer: %s", arn)
		}
		if !compatible(alb, protocol, tg.TargetGroup) {
			return a, elbv2api.Errorf(elbv2api.CodeIncompatibleProtocolsException, "Listener protocol '%s' is not compatible with target group '%s' (protocol '%s', target type '%s')",
				protocol, arn, elbv2api.Value(tg.TargetGroup.Protocol), elbv2api.Value(tg.TargetGroup.TargetType))
		}
		norm[i] = elbv2api.TargetGroupTuple{TargetGroupArn: elbv2api.Ptr(arn), Weight: elbv2api.Ptr(w)}
	}
	if stick == nil {
		stick = &elbv2api.TargetGroupStickinessConfig{Enabled: elbv2api.Ptr(false)}
	} else if elbv2api.Value(stick.Enabled) {
		if d := elbv2api.Value(stick.DurationSeconds); d < 1 || d > 604800 {
			return a, elbv2api.ValidationErrorf("Target group stickiness duration must be from 1 to 604800 seconds")
		}
	} else {
		stick = &elbv2api.TargetGroupStickinessConfig{Enabled: elbv2api.Ptr(false)}
	}
	out := elbv2api.Action{Type: elbv2api.ActionTypeEnumForward, Order: a.Order, ForwardConfig: &elbv2api.ForwardActionConfig{TargetGroups: norm, TargetGroupStickinessConfig: stick}}
	if len(norm) == 1 {
		out.TargetGroupArn = norm[0].TargetGroupArn
	}
	return out, nil
}

// forwardTargets returns the target group ARNs actions forward to.
func forwardTargets(actions []elbv2api.Action) []string {
	var out []string
	for _, a := range actions {
		if a.TargetGroupArn != nil {
			out = append(out, *a.TargetGroupArn)
		}
		if a.ForwardConfig != nil {
			for _, t := range a.ForwardConfig.TargetGroups {
				out = append(out, elbv2api.Value(t.TargetGroupArn))
			}
		}
	}
	return out
}

// listenerChange is a set of listener writes on one load balancer: records
// to put (with the revision they were read at, 0 for new ones) and keys to
// delete.
type listenerChange struct {
	put  map[string]listenerRecord
	revs map[string]int64
	del  map[string]int64
}

// writeListeners applies change to the listeners of the load balancer
// lbARN in one transaction, and keeps the LoadBalancerArns of target groups
// in step with what the load balancer's listeners and rules forward to.
// Every listener write also rewrites the load balancer record, conditioned
// on its revision, so changes to one load balancer's listeners (and its
// deletion) are serialized.
func (e *ELB) writeListeners(ctx context.Context, lbARN string, ch listenerChange) error {
	lb, lbRev, err := e.loadBalancerByARN(ctx, lbARN)
	if err != nil {
		return err
	}
	name := elbv2api.Value(lb.LoadBalancer.LoadBalancerName)
	conds := []store.Cond{{Key: lbKey(name), ModRev: lbRev}}
	ops := []store.Op{store.Put(lbKey(name), mustJSON(lb))}

	kvs, _, err := e.st.List(ctx, ListenersPrefix+name+"/", store.ListOptions{})
	if err != nil {
		return err
	}
	refs := map[string]bool{}
	addRefs := func(r listenerRecord) {
		for _, a := range forwardTargets(r.Listener.DefaultActions) {
			refs[a] = true
		}
		for _, rule := range r.Rules {
			for _, a := range forwardTargets(rule.Actions) {
				refs[a] = true
			}
		}
	}
	for _, kv := range kvs {
		if _, ok := ch.put[kv.Key]; ok {
			continue
		}
		if _, ok := ch.del[kv.Key]; ok {
			continue
		}
		var r listenerRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		addRefs(r)
	}
	for k, r := range ch.put {
		addRefs(r)
		conds = append(conds, store.Cond{Key: k, ModRev: ch.revs[k]})
		ops = append(ops, store.Put(k, mustJSON(r)))
	}
	for k, rev := range ch.del {
		conds = append(conds, store.Cond{Key: k, ModRev: rev})
		ops = append(ops, store.Delete(k))
	}

	tgs, revs, err := list[tgRecord](ctx, e.st, TargetGroupsPrefix)
	if err != nil {
		return err
	}
	found := 0
	for i, tg := range tgs {
		arn := elbv2api.Value(tg.TargetGroup.TargetGroupArn)
		want := refs[arn]
		has := slices.Contains(tg.TargetGroup.LoadBalancerArns, lbARN)
		if want {
			found++
		}
		if !want && !has {
			continue
		}
		k := tgKey(elbv2api.Value(tg.TargetGroup.TargetGroupName))
		conds = append(conds, store.Cond{Key: k, ModRev: revs[i]})
		switch {
		case want && !has:
			if len(tg.TargetGroup.LoadBalancerArns) > 0 {
				return elbv2api.Errorf(elbv2api.CodeTargetGroupAssociationLimitException, "The following target groups cannot be associated with more than one load balancer: %s", arn)
			}
			tg.TargetGroup.LoadBalancerArns = append(tg.TargetGroup.LoadBalancerArns, lbARN)
			tg.Targets = e.pruneTargets(tg.Targets)
			resetHealth(tg.Targets)
			ops = append(ops, store.Put(k, mustJSON(tg)))
		case !want && has:
			tg.TargetGroup.LoadBalancerArns = slices.DeleteFunc(tg.TargetGroup.LoadBalancerArns, func(s string) bool { return s == lbARN })
			ops = append(ops, store.Put(k, mustJSON(tg)))
		}
	}
	if found != len(refs) {
		return elbv2api.Errorf(elbv2api.CodeTargetGroupNotFoundException, "One or more target groups not found")
	}
	_, err = e.st.Txn(ctx, conds, ops)
	return err
}

// CreateListener creates a listener on a load balancer. Creating one with
// the same port and settings returns the existing listener, as ELB does; a
// different listener on the port is DuplicateListener.
func (e *ELB) CreateListener(ctx context.Context, in *elbv2api.CreateListenerInput) (*elbv2api.CreateListenerOutput, error) {
	if in.Protocol == nil {
		return nil, elbv2api.ValidationErrorf("A listener protocol must be specified")
	}
	if in.Port == nil {
		return nil, elbv2api.ValidationErrorf("A listener port must be specified")
	}
	if p := *in.Port; p < 1 || p > 65535 {
		return nil, elbv2api.ValidationErrorf("Listener port '%d' must be from 1 to 65535", p)
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	if in.MutualAuthentication != nil && elbv2api.Value(in.MutualAuthentication.Mode) != "" && elbv2api.Value(in.MutualAuthentication.Mode) != "off" {
		return nil, elbv2api.Errorf(elbv2api.CodeOperationNotPermittedException, "berth does not support mutual TLS authentication")
	}
	id := resourceID()
	var out elbv2api.Listener
	err := retry(ctx, func() error {
		lb, _, err := e.loadBalancerByARN(ctx, in.LoadBalancerArn)
		if err != nil {
			return err
		}
		if err := checkListenerProtocol(isALB(in.LoadBalancerArn), *in.Protocol, in.Certificates); err != nil {
			return err
		}
		actions, err := e.checkActions(ctx, in.LoadBalancerArn, *in.Protocol, in.DefaultActions)
		if err != nil {
			return err
		}
		l := elbv2api.Listener{
			ListenerArn:     elbv2api.Ptr(listenerARN(in.LoadBalancerArn, id)),
			LoadBalancerArn: elbv2api.Ptr(in.LoadBalancerArn),
			Port:            in.Port,
			Protocol:        in.Protocol,
			DefaultActions:  actions,
		}
		if len(in.Certificates) > 0 {
			l.Certificates = []elbv2api.Certificate{{CertificateArn: in.Certificates[0].CertificateArn}}
			l.SslPolicy = elbv2api.Ptr(cmp.Or(elbv2api.Value(in.SslPolicy), defaultSSLPolicy))
			l.AlpnPolicy = in.AlpnPolicy
		}
		existing, _, err := list[listenerRecord](ctx, e.st, ListenersPrefix+elbv2api.Value(lb.LoadBalancer.LoadBalancerName)+"/")
		if err != nil {
			return err
		}
		for _, x := range existing {
			if elbv2api.Value(x.Listener.Port) != *in.Port {
				continue
			}
			h := x.Listener
			h.ListenerArn = l.ListenerArn
			if string(mustJSON(h)) == string(mustJSON(l)) {
				out = x.Listener
				return nil
			}
			return elbv2api.Errorf(elbv2api.CodeDuplicateListenerException, "A listener already exists on this port for this load balancer '%s'", in.LoadBalancerArn)
		}
		k := listenerKey(elbv2api.Value(lb.LoadBalancer.LoadBalancerName), id)
		rec := listenerRecord{Listener: l, DefaultRuleID: resourceID(), Tags: nonNil(in.Tags)}
		out = l
		return e.writeListeners(ctx, in.LoadBalancerArn, listenerChange{put: map[string]listenerRecord{k: rec}, revs: map[string]int64{k: 0}})
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.CreateListenerOutput{Listeners: []elbv2api.Listener{out}}, nil
}

// DescribeListeners describes the listeners of a load balancer, or the
// named ones, a page at a time.
func (e *ELB) DescribeListeners(ctx context.Context, in *elbv2api.DescribeListenersInput) (*elbv2api.DescribeListenersOutput, error) {
	if (in.LoadBalancerArn != nil) == (len(in.ListenerArns) > 0) {
		return nil, elbv2api.ValidationErrorf("You must specify either listener ARNs or a load balancer ARN")
	}
	var ls []elbv2api.Listener
	if in.LoadBalancerArn != nil {
		lb, _, err := e.loadBalancerByARN(ctx, *in.LoadBalancerArn)
		if err != nil {
			return nil, err
		}
		recs, _, err := list[listenerRecord](ctx, e.st, ListenersPrefix+elbv2api.Value(lb.LoadBalancer.LoadBalancerName)+"/")
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			ls = append(ls, r.Listener)
		}
	} else {
		for _, a := range in.ListenerArns {
			r, _, err := e.listenerByARN(ctx, a)
			if err != nil {
				return nil, err
			}
			ls = append(ls, r.Listener)
		}
	}
	arn := func(l elbv2api.Listener) string { return elbv2api.Value(l.ListenerArn) }
	slices.SortFunc(ls, func(a, b elbv2api.Listener) int { return strings.Compare(arn(a), arn(b)) })
	ls, next := page(ls, arn, in.Marker, in.PageSize)
	return &elbv2api.DescribeListenersOutput{Listeners: nonNil(ls), NextMarker: next}, nil
}

// ModifyListener changes a listener's port, protocol, certificates or
// default actions.
func (e *ELB) ModifyListener(ctx context.Context, in *elbv2api.ModifyListenerInput) (*elbv2api.ModifyListenerOutput, error) {
	if p := elbv2api.Value(in.Port); in.Port != nil && (p < 1 || p > 65535) {
		return nil, elbv2api.ValidationErrorf("Listener port '%d' must be from 1 to 65535", p)
	}
	if in.MutualAuthentication != nil && elbv2api.Value(in.MutualAuthentication.Mode) != "" && elbv2api.Value(in.MutualAuthentication.Mode) != "off" {
		return nil, elbv2api.Errorf(elbv2api.CodeOperationNotPermittedException, "berth does not support mutual TLS authentication")
	}
	var out elbv2api.Listener
	err := retry(ctx, func() error {
		rec, rev, err := e.listenerByARN(ctx, in.ListenerArn)
		if err != nil {
			return err
		}
		l := rec.Listener
		lbARN := elbv2api.Value(l.LoadBalancerArn)
		if in.Port != nil {
			l.Port = in.Port
		}
		if in.Protocol != nil {
			l.Protocol = in.Protocol
		}
		p := elbv2api.Value(l.Protocol)
		secure := p == elbv2api.ProtocolEnumHTTPS || p == elbv2api.ProtocolEnumTLS
		certs := l.Certificates
		if in.Certificates != nil {
			certs = in.Certificates
		}
		if !secure && in.Certificates == nil {
			certs = nil
		}
		if err := checkListenerProtocol(isALB(lbARN), p, certs); err != nil {
			return err
		}
		if secure {
			l.Certificates = []elbv2api.Certificate{{CertificateArn: certs[0].CertificateArn}}
			l.SslPolicy = elbv2api.Ptr(cmp.Or(elbv2api.Value(in.SslPolicy), elbv2api.Value(l.SslPolicy), defaultSSLPolicy))
			if in.AlpnPolicy != nil {
				l.AlpnPolicy = in.AlpnPolicy
			}
		} else {
			l.Certificates, l.SslPolicy, l.AlpnPolicy = nil, nil, nil
		}
		actions := l.DefaultActions
		if in.DefaultActions != nil {
			actions = in.DefaultActions
		}
		if l.DefaultActions, err = e.checkActions(ctx, lbARN, p, actions); err != nil {
			return err
		}
		for _, r := range rec.Rules {
			if _, err := e.checkActions(ctx, lbARN, p, r.Actions); err != nil {
				return err
			}
		}
		a, _ := e.splitARN(in.ListenerArn, "listener")
		if elbv2api.Value(l.Port) != elbv2api.Value(rec.Listener.Port) {
			others, _, err := list[listenerRecord](ctx, e.st, ListenersPrefix+a.lbName+"/")
			if err != nil {
				return err
			}
			for _, o := range others {
				if elbv2api.Value(o.Listener.Port) == elbv2api.Value(l.Port) {
					return elbv2api.Errorf(elbv2api.CodeDuplicateListenerException, "A listener already exists on this port for this load balancer '%s'", lbARN)
				}
			}
		}
		rec.Listener = l
		out = l
		k := listenerKey(a.lbName, a.listenerID)
		return e.writeListeners(ctx, lbARN, listenerChange{put: map[string]listenerRecord{k: rec}, revs: map[string]int64{k: rev}})
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.ModifyListenerOutput{Listeners: []elbv2api.Listener{out}}, nil
}

// DeleteListener deletes a listener and its rules.
func (e *ELB) DeleteListener(ctx context.Context, in *elbv2api.DeleteListenerInput) (*elbv2api.DeleteListenerOutput, error) {
	err := retry(ctx, func() error {
		rec, rev, err := e.listenerByARN(ctx, in.ListenerArn)
		if err != nil {
			return err
		}
		a, _ := e.splitARN(in.ListenerArn, "listener")
		return e.writeListeners(ctx, elbv2api.Value(rec.Listener.LoadBalancerArn), listenerChange{del: map[string]int64{listenerKey(a.lbName, a.listenerID): rev}})
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.DeleteListenerOutput{}, nil
}

// Listener is what the data plane needs to know about a listener: where
// it listens, and where it sends requests.
type Listener struct {
	ARN              string
	LoadBalancerARN  string
	LoadBalancerName string
	LoadBalancerType string // "application" or "network"
	Protocol         string // HTTP, HTTPS, TCP, TLS, UDP or TCP_UDP
	Port             int32
	Certificates     []string // certificate ARNs (HTTPS, TLS)
	SSLPolicy        string
	// DefaultActions apply when no rule matches (and always for network
	// load balancers).
	DefaultActions []Action
	// Rules are the listener's rules in priority order (lowest first), not
	// counting the default rule. The first whose conditions all match a
	// request decides its actions.
	Rules []Rule
}

// Action is a forward or fixed-response action.
type Action struct {
	Type  string // "forward" or "fixed-response"
	Order int32  // 0 when not given
	// Forward: the target groups with their weights (a single target group
	// has weight 1), and target group stickiness.
	TargetGroups       []WeightedTargetGroup
	Stickiness         bool
	StickinessDuration time.Duration
	// Fixed response.
	StatusCode  int
	ContentType string
	MessageBody string
}

// WeightedTargetGroup is one target group of a forward action.
type WeightedTargetGroup struct {
	ARN    string
	Weight int32
}

// Rule is a listener rule.
type Rule struct {
	ARN        string
	Priority   int32
	Conditions []Condition
	Actions    []Action
}

// Condition is one condition of a rule: the request matches when it
// matches any of Values. Field is "path-pattern" (matched against the path
// without the query string, case-sensitively) or "host-header" (matched
// against the host without a port, case-insensitively); values may use
// '*' (any run of characters) and '?' (one character).
type Condition struct {
	Field  string
	Values []string
}

// Matches reports whether a request for host and path meets every
// condition of the rule.
func (r Rule) Matches(host, path string) bool {
	for _, c := range r.Conditions {
		if !c.Matches(host, path) {
			return false
		}
	}
	return true
}

// Matches reports whether a request for host and path meets the
// condition.
func (c Condition) Matches(host, path string) bool {
	subject := path
	if c.Field == "host-header" {
		if h, _, ok := strings.Cut(host, ":"); ok && !strings.Contains(host, "]") {
			host = h
		}
		subject = strings.ToLower(host)
	}
	for _, v := range c.Values {
		if c.Field == "host-header" {
			v = strings.ToLower(v)
		}
		if wildcardMatch(v, subject) {
			return true
		}
	}
	return false
}

// wildcardMatch matches s against a pattern where '*' is any run of
// characters and '?' is one character.
func wildcardMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func toActions(as []elbv2api.Action) []Action {
	out := make([]Action, 0, len(as))
	for _, a := range as {
		x := Action{Type: string(a.Type), Order: elbv2api.Value(a.Order)}
		if f := a.ForwardConfig; f != nil {
			for _, t := range f.TargetGroups {
				x.TargetGroups = append(x.TargetGroups, WeightedTargetGroup{ARN: elbv2api.Value(t.TargetGroupArn), Weight: elbv2api.Value(t.Weight)})
			}
			if s := f.TargetGroupStickinessConfig; s != nil && elbv2api.Value(s.Enabled) {
				x.Stickiness = true
				x.StickinessDuration = time.Duration(elbv2api.Value(s.DurationSeconds)) * time.Second
			}
		} else if a.TargetGroupArn != nil {
			x.TargetGroups = []WeightedTargetGroup{{ARN: *a.TargetGroupArn, Weight: 1}}
		}
		if f := a.FixedResponseConfig; f != nil {
			x.StatusCode, _ = strconv.Atoi(f.StatusCode)
			x.ContentType = elbv2api.Value(f.ContentType)
			x.MessageBody = elbv2api.Value(f.MessageBody)
		}
		out = append(out, x)
	}
	return out
}

func (rec listenerRecord) info() Listener {
	l := rec.Listener
	lbARN := elbv2api.Value(l.LoadBalancerArn)
	out := Listener{
		ARN:              elbv2api.Value(l.ListenerArn),
		LoadBalancerARN:  lbARN,
		LoadBalancerType: string(elbv2api.LoadBalancerTypeEnumNetwork),
		Protocol:         string(elbv2api.Value(l.Protocol)),
		Port:             elbv2api.Value(l.Port),
		SSLPolicy:        elbv2api.Value(l.SslPolicy),
		DefaultActions:   toActions(l.DefaultActions),
		Rules:            []Rule{},
	}
	if isALB(lbARN) {
		out.LoadBalancerType = string(elbv2api.LoadBalancerTypeEnumApplication)
	}
	if parts := strings.Split(lbARN, "/"); len(parts) == 4 {
		out.LoadBalancerName = parts[2]
	}
	for _, c := range l.Certificates {
		out.Certificates = append(out.Certificates, elbv2api.Value(c.CertificateArn))
	}
	rs := slices.Clone(rec.Rules)
	slices.SortFunc(rs, func(a, b ruleRecord) int { return cmp.Compare(a.Priority, b.Priority) })
	for _, r := range rs {
		x := Rule{ARN: ruleARN(out.ARN, r.ID), Priority: r.Priority, Actions: toActions(r.Actions)}
		for _, c := range r.Conditions {
			x.Conditions = append(x.Conditions, Condition{Field: elbv2api.Value(c.Field), Values: slices.Clone(c.Values)})
		}
		out.Rules = append(out.Rules, x)
	}
	return out
}

// Listeners returns every listener of every load balancer, by load
// balancer name and port, with its rules in priority order. The data plane
// opens a port per listener and routes with the rules.
func (e *ELB) Listeners(ctx context.Context) ([]Listener, error) {
	recs, _, err := list[listenerRecord](ctx, e.st, ListenersPrefix)
	if err != nil {
		return nil, err
	}
	out := make([]Listener, len(recs))
	for i, r := range recs {
		out[i] = r.info()
	}
	slices.SortStableFunc(out, func(a, b Listener) int {
		return cmp.Or(strings.Compare(a.LoadBalancerName, b.LoadBalancerName), cmp.Compare(a.Port, b.Port))
	})
	return out, nil
}
