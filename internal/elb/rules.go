package elb

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/elbv2api"
)

const maxConditionValues = 5

func ruleARN(listenerARN, id string) string {
	return strings.Replace(listenerARN, ":listener/", ":listener-rule/", 1) + "/" + id
}

func ruleNotFound() error {
	return elbv2api.Errorf(elbv2api.CodeRuleNotFoundException, "One or more rules not found")
}

// ruleRef is a rule located in its listener record: index is -1 for the
// listener's default rule.
type ruleRef struct {
	listener listenerRecord
	rev      int64
	key      string
	index    int
}

// ruleByARN loads the listener of a rule and finds the rule in it.
func (e *ELB) ruleByARN(ctx context.Context, arn string) (ruleRef, error) {
	a, ok := e.splitARN(arn, "listener-rule")
	if !ok {
		if !strings.HasPrefix(arn, "arn:") {
			return ruleRef{}, elbv2api.ValidationErrorf("'%s' is not a valid rule ARN", arn)
		}
		return ruleRef{}, ruleNotFound()
	}
	lARN := e.arnPrefix() + "listener/" + a.lbKind + "/" + a.lbName + "/" + a.lbID + "/" + a.listenerID
	rec, rev, err := e.listenerByARN(ctx, lARN)
	if isCode(err, elbv2api.CodeListenerNotFoundException) {
		return ruleRef{}, ruleNotFound()
	}
	if err != nil {
		return ruleRef{}, err
	}
	ref := ruleRef{listener: rec, rev: rev, key: listenerKey(a.lbName, a.listenerID), index: -1}
	if a.ruleID == rec.DefaultRuleID {
		return ref, nil
	}
	ref.index = slices.IndexFunc(rec.Rules, func(r ruleRecord) bool { return r.ID == a.ruleID })
	if ref.index < 0 {
		return ruleRef{}, ruleNotFound()
	}
	return ref, nil
}

// rules returns a listener's rules as ELB describes them: by priority, the
// default rule last.
func (rec listenerRecord) rules() []elbv2api.Rule {
	lARN := elbv2api.Value(rec.Listener.ListenerArn)
	rs := slices.Clone(rec.Rules)
	slices.SortFunc(rs, func(a, b ruleRecord) int { return cmp.Compare(a.Priority, b.Priority) })
	out := make([]elbv2api.Rule, 0, len(rs)+1)
	for _, r := range rs {
		out = append(out, r.api(lARN))
	}
	return append(out, rec.defaultRule())
}

func (rec listenerRecord) defaultRule() elbv2api.Rule {
	return elbv2api.Rule{
		RuleArn:    elbv2api.Ptr(ruleARN(elbv2api.Value(rec.Listener.ListenerArn), rec.DefaultRuleID)),
		Priority:   elbv2api.Ptr("default"),
		Conditions: []elbv2api.RuleCondition{},
		Actions:    rec.Listener.DefaultActions,
		IsDefault:  elbv2api.Ptr(true),
	}
}

func (r ruleRecord) api(listenerARN string) elbv2api.Rule {
	return elbv2api.Rule{
		RuleArn:    elbv2api.Ptr(ruleARN(listenerARN, r.ID)),
		Priority:   elbv2api.Ptr(strconv.Itoa(int(r.Priority))),
		Conditions: r.Conditions,
		Actions:    r.Actions,
		IsDefault:  elbv2api.Ptr(false),
	}
}

func (rec listenerRecord) ref(i int) elbv2api.Rule {
	if i < 0 {
		return rec.defaultRule()
	}
	return rec.Rules[i].api(elbv2api.Value(rec.Listener.ListenerArn))
}

// checkConditions validates rule conditions and returns them as ELB
// reports them, with both Values and the field's config. berth serves
// path-pattern and host-header conditions.
func checkConditions(conds []elbv2api.RuleCondition) ([]elbv2api.RuleCondition, error) {
	if len(conds) == 0 {
		return nil, elbv2api.ValidationErrorf("A rule must have at least one condition")
	}
	seen := map[string]bool{}
	total := 0
	out := make([]elbv2api.RuleCondition, 0, len(conds))
	for _, c := range conds {
		field := elbv2api.Value(c.Field)
		var cfgValues, cfgRegex []string
		var hasCfg bool
		switch field {
		case "":
			return nil, elbv2api.ValidationErrorf("A condition field must be specified")
		case "path-pattern":
			if c.PathPatternConfig != nil {
				hasCfg, cfgValues, cfgRegex = true, c.PathPatternConfig.Values, c.PathPatternConfig.RegexValues
			}
		case "host-header":
			if c.HostHeaderConfig != nil {
				hasCfg, cfgValues, cfgRegex = true, c.HostHeaderConfig.Values, c.HostHeaderConfig.RegexValues
			}
		case "http-header", "http-request-method", "query-string", "source-ip":
			return nil, elbv2api.Errorf(elbv2api.CodeOperationNotPermittedException, "berth does not support '%s' conditions yet: use path-pattern or host-header", field)
		default:
			return nil, elbv2api.ValidationErrorf("Condition field '%s' must be one of '[http-header, http-request-method, host-header, path-pattern, query-string, source-ip]'", field)
		}
		if len(cfgRegex) > 0 || len(c.RegexValues) > 0 {
			return nil, elbv2api.Errorf(elbv2api.CodeOperationNotPermittedException, "berth does not support regex condition values yet")
		}
		if c.HttpHeaderConfig != nil || c.QueryStringConfig != nil || c.HttpRequestMethodConfig != nil || c.SourceIpConfig != nil ||
			field == "path-pattern" && c.HostHeaderConfig != nil || field == "host-header" && c.PathPatternConfig != nil {
			return nil, elbv2api.ValidationErrorf("A condition with field '%s' can only have a config of that field", field)
		}
		if seen[field] {
			return nil, elbv2api.ValidationErrorf("A rule can only have one '%s' condition", field)
		}
		seen[field] = true
		values := c.Values
		if hasCfg {
			if len(c.Values) > 0 && !slices.Equal(c.Values, cfgValues) {
				return nil, elbv2api.ValidationErrorf("You cannot specify both 'Values' and a '%s' config with different values", field)
			}
			values = cfgValues
		}
		if len(values) == 0 {
			return nil, elbv2api.ValidationErrorf("A '%s' condition must have at least one value", field)
		}
		for _, v := range values {
			if err := checkConditionValue(field, v); err != nil {
				return nil, err
			}
		}
		total += len(values)
		n := elbv2api.RuleCondition{Field: elbv2api.Ptr(field), Values: slices.Clone(values)}
		if field == "path-pattern" {
			n.PathPatternConfig = &elbv2api.PathPatternConditionConfig{Values: slices.Clone(values)}
		} else {
			n.HostHeaderConfig = &elbv2api.HostHeaderConditionConfig{Values: slices.Clone(values)}
		}
		out = append(out, n)
	}
	if total > maxConditionValues {
		return nil, elbv2api.ValidationErrorf("A rule can only have '%d' condition values", maxConditionValues)
	}
	return out, nil
}

func checkConditionValue(field, v string) error {
	if v == "" || len(v) > 128 {
		return elbv2api.ValidationErrorf("The '%s' condition value '%s' must be 1 to 128 characters long", field, v)
	}
	allowed := "-.*?"
	if field == "path-pattern" {
		allowed = "_-.$/~\"'@:+&*?"
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(allowed, r)) {
			return elbv2api.ValidationErrorf("The '%s' condition value '%s' contains the invalid character '%c'", field, v, r)
		}
	}
	return nil
}

// requireALB answers the rule operations on network load balancer
// listeners.
func requireALB(rec listenerRecord) error {
	if !isALB(elbv2api.Value(rec.Listener.LoadBalancerArn)) {
		return elbv2api.ValidationErrorf("Rules are supported only by listeners of application load balancers")
	}
	return nil
}

// CreateRule adds a rule to a listener of an application load balancer.
func (e *ELB) CreateRule(ctx context.Context, in *elbv2api.CreateRuleInput) (*elbv2api.CreateRuleOutput, error) {
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	if len(in.Transforms) > 0 {
		return nil, elbv2api.Errorf(elbv2api.CodeOperationNotPermittedException, "berth does not support rule transforms yet")
	}
	conds, err := checkConditions(in.Conditions)
	if err != nil {
		return nil, err
	}
	id := resourceID()
	var out elbv2api.Rule
	err = retry(ctx, func() error {
		rec, rev, err := e.listenerByARN(ctx, in.ListenerArn)
		if err != nil {
			return err
		}
		if err := requireALB(rec); err != nil {
			return err
		}
		lbARN := elbv2api.Value(rec.Listener.LoadBalancerArn)
		actions, err := e.checkActions(ctx, lbARN, elbv2api.Value(rec.Listener.Protocol), in.Actions)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(rec.Rules, func(r ruleRecord) bool { return r.Priority == in.Priority }) {
			return elbv2api.Errorf(elbv2api.CodePriorityInUseException, "Priority '%d' is currently in use", in.Priority)
		}
		if len(rec.Rules) >= maxRulesPerListener {
			return elbv2api.Errorf(elbv2api.CodeTooManyRulesException, "A listener can have at most %d rules", maxRulesPerListener)
		}
		r := ruleRecord{ID: id, Priority: in.Priority, Conditions: conds, Actions: actions, Tags: in.Tags}
		rec.Rules = append(rec.Rules, r)
		out = r.api(in.ListenerArn)
		a, _ := e.splitARN(in.ListenerArn, "listener")
		k := listenerKey(a.lbName, a.listenerID)
		return e.writeListeners(ctx, lbARN, listenerChange{put: map[string]listenerRecord{k: rec}, revs: map[string]int64{k: rev}})
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.CreateRuleOutput{Rules: []elbv2api.Rule{out}}, nil
}

// DescribeRules describes the rules of a listener (by priority, the
// default rule last) or the named rules. The marker is the number of rules
// already returned.
func (e *ELB) DescribeRules(ctx context.Context, in *elbv2api.DescribeRulesInput) (*elbv2api.DescribeRulesOutput, error) {
	if (in.ListenerArn != nil) == (len(in.RuleArns) > 0) {
		return nil, elbv2api.ValidationErrorf("You must specify either listener ARN or rule ARNs")
	}
	var rules []elbv2api.Rule
	if in.ListenerArn != nil {
		rec, _, err := e.listenerByARN(ctx, *in.ListenerArn)
		if err != nil {
			return nil, err
		}
		rules = rec.rules()
	} else {
		for _, a := range in.RuleArns {
			ref, err := e.ruleByARN(ctx, a)
			if err != nil {
				return nil, err
			}
			rules = append(rules, ref.listener.ref(ref.index))
		}
	}
	start := 0
	if m := elbv2api.Value(in.Marker); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 0 {
			return nil, elbv2api.ValidationErrorf("The marker '%s' is not valid", m)
		}
		start = min(n, len(rules))
	}
	size := int(elbv2api.Value(in.PageSize))
	if size <= 0 {
		size = defaultPageSize
	}
	rules = rules[start:]
	var next *string
	if len(rules) > size {
		rules = rules[:size]
		next = elbv2api.Ptr(strconv.Itoa(start + size))
	}
	return &elbv2api.DescribeRulesOutput{Rules: nonNil(rules), NextMarker: next}, nil
}

// ModifyRule replaces a rule's conditions or actions. The default rule's
// actions are its listener's default actions; it has no conditions.
func (e *ELB) ModifyRule(ctx context.Context, in *elbv2api.ModifyRuleInput) (*elbv2api.ModifyRuleOutput, error) {
	if len(in.Transforms) > 0 {
		return nil, elbv2api.Errorf(elbv2api.CodeOperationNotPermittedException, "berth does not support rule transforms yet")
	}
	var conds []elbv2api.RuleCondition
	if in.Conditions != nil {
		var err error
		if conds, err = checkConditions(in.Conditions); err != nil {
			return nil, err
		}
	}
	var out elbv2api.Rule
	err := retry(ctx, func() error {
		ref, err := e.ruleByARN(ctx, in.RuleArn)
		if err != nil {
			return err
		}
		rec := ref.listener
		lbARN := elbv2api.Value(rec.Listener.LoadBalancerArn)
		var actions []elbv2api.Action
		if in.Actions != nil {
			if actions, err = e.checkActions(ctx, lbARN, elbv2api.Value(rec.Listener.Protocol), in.Actions); err != nil {
				return err
			}
		}
		if ref.index < 0 {
			if in.Conditions != nil {
				return elbv2api.Errorf(elbv2api.CodeOperationNotPermittedException, "The conditions of a default rule cannot be modified")
			}
			if actions != nil {
				rec.Listener.DefaultActions = actions
			}
		} else {
			if err := requireALB(rec); err != nil {
				return err
			}
			r := &rec.Rules[ref.index]
			if conds != nil {
				r.Conditions = conds
			}
			if actions != nil {
				r.Actions = actions
			}
		}
		out = rec.ref(ref.index)
		return e.writeListeners(ctx, lbARN, listenerChange{put: map[string]listenerRecord{ref.key: rec}, revs: map[string]int64{ref.key: ref.rev}})
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.ModifyRuleOutput{Rules: []elbv2api.Rule{out}}, nil
}

// DeleteRule deletes a rule other than a listener's default rule.
func (e *ELB) DeleteRule(ctx context.Context, in *elbv2api.DeleteRuleInput) (*elbv2api.DeleteRuleOutput, error) {
	err := retry(ctx, func() error {
		ref, err := e.ruleByARN(ctx, in.RuleArn)
		if err != nil {
			return err
		}
		if ref.index < 0 {
			return elbv2api.Errorf(elbv2api.CodeOperationNotPermittedException, "Default rule '%s' cannot be deleted", in.RuleArn)
		}
		rec := ref.listener
		rec.Rules = slices.Delete(rec.Rules, ref.index, ref.index+1)
		return e.writeListeners(ctx, elbv2api.Value(rec.Listener.LoadBalancerArn), listenerChange{put: map[string]listenerRecord{ref.key: rec}, revs: map[string]int64{ref.key: ref.rev}})
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.DeleteRuleOutput{}, nil
}

// SetRulePriorities changes the priorities of rules of one listener at
// once, so priorities can be swapped.
func (e *ELB) SetRulePriorities(ctx context.Context, in *elbv2api.SetRulePrioritiesInput) (*elbv2api.SetRulePrioritiesOutput, error) {
	if len(in.RulePriorities) == 0 {
		return nil, elbv2api.ValidationErrorf("At least one rule priority must be specified")
	}
	var out []elbv2api.Rule
	err := retry(ctx, func() error {
		var rec listenerRecord
		var key string
		var rev int64
		seen := map[string]bool{}
		for _, p := range in.RulePriorities {
			arn := elbv2api.Value(p.RuleArn)
			if seen[arn] {
				return elbv2api.ValidationErrorf("Rule '%s' is specified more than once", arn)
			}
			seen[arn] = true
			if p.Priority == nil {
				return elbv2api.ValidationErrorf("A priority must be specified for rule '%s'", arn)
			}
			ref, err := e.ruleByARN(ctx, arn)
			if err != nil {
				return err
			}
			if ref.index < 0 {
				return elbv2api.Errorf(elbv2api.CodeOperationNotPermittedException, "The priority of default rule '%s' cannot be changed", arn)
			}
			if key == "" {
				rec, key, rev = ref.listener, ref.key, ref.rev
			} else if ref.key != key {
				return elbv2api.ValidationErrorf("berth can only set the priorities of rules of one listener at a time")
			}
			a, _ := e.splitARN(arn, "listener-rule")
			i := slices.IndexFunc(rec.Rules, func(r ruleRecord) bool { return r.ID == a.ruleID })
			rec.Rules[i].Priority = *p.Priority
		}
		used := map[int32]bool{}
		for _, r := range rec.Rules {
			if used[r.Priority] {
				return elbv2api.Errorf(elbv2api.CodePriorityInUseException, "Priority '%d' is currently in use", r.Priority)
			}
			used[r.Priority] = true
		}
		out = nil
		lARN := elbv2api.Value(rec.Listener.ListenerArn)
		for _, p := range in.RulePriorities {
			a, _ := e.splitARN(elbv2api.Value(p.RuleArn), "listener-rule")
			i := slices.IndexFunc(rec.Rules, func(r ruleRecord) bool { return r.ID == a.ruleID })
			out = append(out, rec.Rules[i].api(lARN))
		}
		return e.writeListeners(ctx, elbv2api.Value(rec.Listener.LoadBalancerArn), listenerChange{put: map[string]listenerRecord{key: rec}, revs: map[string]int64{key: rev}})
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.SetRulePrioritiesOutput{Rules: out}, nil
}
