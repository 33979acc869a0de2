package api

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"

	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/store"
)

// Account setting keys: a principal's own settings, and the account
// defaults that PutAccountSettingDefault writes.
//
//	/acct/principal/<principalArn>/<name>   ecsapi.Setting
//	/acct/default/<name>                    ecsapi.Setting
func principalSettingKey(principal string, name ecsapi.SettingName) string {
	return "/acct/principal/" + principal + "/" + string(name)
}
func defaultSettingKey(name ecsapi.SettingName) string { return "/acct/default/" + string(name) }

// awsSettingDefaults are the values AWS applies when nobody set one.
var awsSettingDefaults = map[ecsapi.SettingName]string{
	ecsapi.SettingNameServiceLongArnFormat:            "enabled",
	ecsapi.SettingNameTaskLongArnFormat:               "enabled",
	ecsapi.SettingNameContainerInstanceLongArnFormat:  "enabled",
	ecsapi.SettingNameAwsvpcTrunking:                  "disabled",
	ecsapi.SettingNameContainerInsights:               "disabled",
	ecsapi.SettingNameFargateFIPSMode:                 "disabled",
	ecsapi.SettingNameTagResourceAuthorization:        "on",
	ecsapi.SettingNameFargateTaskRetirementWaitPeriod: "7",
	ecsapi.SettingNameGuardDutyActivate:               "off",
	ecsapi.SettingNameDefaultLogDriverMode:            "non-blocking",
	ecsapi.SettingNameFargateEventWindows:             "disabled",
}

// settingValues lists the values each setting accepts.
var settingValues = map[ecsapi.SettingName][]string{
	ecsapi.SettingNameContainerInsights:               {"enabled", "disabled", "enhanced"},
	ecsapi.SettingNameTagResourceAuthorization:        {"on", "off"},
	ecsapi.SettingNameFargateTaskRetirementWaitPeriod: {"0", "7", "14"},
	ecsapi.SettingNameGuardDutyActivate:               {"on", "off"},
	ecsapi.SettingNameDefaultLogDriverMode:            {"blocking", "non-blocking"},
}

func checkSettingValue(name ecsapi.SettingName, value string) error {
	allowed, ok := settingValues[name]
	if !ok {
		allowed = []string{"enabled", "disabled"}
	}
	if !slices.Contains(allowed, value) {
		return invalidParam("The value %q is not valid for the account setting %s; use one of %v.", value, name, allowed)
	}
	return nil
}

func (e *ECS) principal(ctx context.Context, p *string) string {
	if s := ecsapi.Value(p); s != "" {
		return s
	}
	return e.callerARN(ctx)
}

func (e *ECS) putSetting(ctx context.Context, key string, s ecsapi.Setting) error {
	_, err := e.st.Txn(ctx, nil, []store.Op{store.Put(key, mustJSON(s))})
	return err
}

// PutAccountSetting sets a setting for one principal (the caller by default).
func (e *ECS) PutAccountSetting(ctx context.Context, in *ecsapi.PutAccountSettingRequest) (*ecsapi.PutAccountSettingResponse, error) {
	if err := checkSettingValue(in.Name, in.Value); err != nil {
		return nil, err
	}
	p := e.principal(ctx, in.PrincipalArn)
	s := ecsapi.Setting{Name: ecsapi.Ptr(in.Name), Value: ecsapi.Ptr(in.Value), PrincipalArn: ecsapi.Ptr(p), Type: ecsapi.Ptr(ecsapi.SettingTypeUser)}
	if err := e.putSetting(ctx, principalSettingKey(p, in.Name), s); err != nil {
		return nil, err
	}
	return &ecsapi.PutAccountSettingResponse{Setting: &s}, nil
}

// PutAccountSettingDefault sets the account-wide default of a setting.
func (e *ECS) PutAccountSettingDefault(ctx context.Context, in *ecsapi.PutAccountSettingDefaultRequest) (*ecsapi.PutAccountSettingDefaultResponse, error) {
	if err := checkSettingValue(in.Name, in.Value); err != nil {
		return nil, err
	}
	s := ecsapi.Setting{Name: ecsapi.Ptr(in.Name), Value: ecsapi.Ptr(in.Value), PrincipalArn: ecsapi.Ptr(e.names.Root()), Type: ecsapi.Ptr(ecsapi.SettingTypeUser)}
	if err := e.putSetting(ctx, defaultSettingKey(in.Name), s); err != nil {
		return nil, err
	}
	return &ecsapi.PutAccountSettingDefaultResponse{Setting: &s}, nil
}

// DeleteAccountSetting removes a principal's own value of a setting.
func (e *ECS) DeleteAccountSetting(ctx context.Context, in *ecsapi.DeleteAccountSettingRequest) (*ecsapi.DeleteAccountSettingResponse, error) {
	p := e.principal(ctx, in.PrincipalArn)
	key := principalSettingKey(p, in.Name)
	var s ecsapi.Setting
	_, err := e.getJSON(ctx, key, &s)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalidParam("The account setting %s is not set for %s.", in.Name, p)
	}
	if err != nil {
		return nil, err
	}
	if _, err := e.st.Txn(ctx, nil, []store.Op{store.Delete(key)}); err != nil {
		return nil, err
	}
	return &ecsapi.DeleteAccountSettingResponse{Setting: &s}, nil
}

// ListAccountSettings lists a principal's settings; with effectiveSettings,
// the value in force for every setting: the principal's own, else the
// account default, else AWS's.
func (e *ECS) ListAccountSettings(ctx context.Context, in *ecsapi.ListAccountSettingsRequest) (*ecsapi.ListAccountSettingsResponse, error) {
	p := e.principal(ctx, in.PrincipalArn)
	byName := map[ecsapi.SettingName]ecsapi.Setting{}
	load := func(prefix string) error {
		kvs, _, err := e.st.List(ctx, prefix, store.ListOptions{})
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			var s ecsapi.Setting
			if err := json.Unmarshal(kv.Value, &s); err != nil {
				return err
			}
			byName[ecsapi.Value(s.Name)] = s
		}
		return nil
	}
	if in.EffectiveSettings {
		for name, v := range awsSettingDefaults {
			byName[name] = ecsapi.Setting{Name: ecsapi.Ptr(name), Value: ecsapi.Ptr(v), PrincipalArn: ecsapi.Ptr(p), Type: ecsapi.Ptr(ecsapi.SettingTypeAwsManaged)}
		}
		if err := load("/acct/default/"); err != nil {
			return nil, err
		}
	}
	if err := load("/acct/principal/" + p + "/"); err != nil {
		return nil, err
	}
	var settings []ecsapi.Setting
	for name, s := range byName {
		if in.Name != nil && name != *in.Name {
			continue
		}
		if in.Value != nil && ecsapi.Value(s.Value) != *in.Value {
			continue
		}
		settings = append(settings, s)
	}
	sort.Slice(settings, func(i, j int) bool { return *settings[i].Name < *settings[j].Name })
	maxResults := in.MaxResults
	if maxResults < 0 || maxResults > 10 {
		return nil, invalidParam("maxResults must be between 1 and 10.")
	}
	if maxResults == 0 {
		maxResults = 10
	}
	start := 0
	if tok := ecsapi.Value(in.NextToken); tok != "" {
		start = slices.IndexFunc(settings, func(s ecsapi.Setting) bool { return string(*s.Name) > tok })
		if start < 0 {
			start = len(settings)
		}
	}
	end := min(start+int(maxResults), len(settings))
	out := &ecsapi.ListAccountSettingsResponse{Settings: nonNil(settings[start:end])}
	if end < len(settings) {
		out.NextToken = ecsapi.Ptr(string(*settings[end-1].Name))
	}
	return out, nil
}
