package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

func settingMap(ss []types.Setting) map[types.SettingName]types.Setting {
	m := map[types.SettingName]types.Setting{}
	for _, s := range ss {
		m[s.Name] = s
	}
	return m
}

func TestAccountSettingsSDK(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	ctx := context.Background()
	const root = "arn:aws:iam::123456789012:root"

	// Nothing set: the caller's own list is empty, the effective list holds
	// AWS's defaults.
	own, err := c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{})
	if err != nil || len(own.Settings) != 0 {
		t.Fatalf("own settings before any put = %+v, %v", own, err)
	}
	eff, err := c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{EffectiveSettings: true, Name: types.SettingNameContainerInsights})
	if err != nil || len(eff.Settings) != 1 || aws.ToString(eff.Settings[0].Value) != "disabled" || eff.Settings[0].Type != types.SettingTypeAwsManaged {
		t.Fatalf("effective containerInsights = %+v, %v", eff, err)
	}

	// The account default overrides AWS's; the principal's own overrides both.
	def, err := c.PutAccountSettingDefault(ctx, &ecs.PutAccountSettingDefaultInput{Name: types.SettingNameContainerInsights, Value: aws.String("enhanced")})
	if err != nil || aws.ToString(def.Setting.Value) != "enhanced" || aws.ToString(def.Setting.PrincipalArn) != root {
		t.Fatalf("PutAccountSettingDefault = %+v, %v", def, err)
	}
	eff, err = c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{EffectiveSettings: true, Name: types.SettingNameContainerInsights})
	if err != nil || len(eff.Settings) != 1 || aws.ToString(eff.Settings[0].Value) != "enhanced" {
		t.Fatalf("effective after default = %+v, %v", eff, err)
	}
	put, err := c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: types.SettingNameContainerInsights, Value: aws.String("enabled")})
	if err != nil || aws.ToString(put.Setting.Value) != "enabled" || aws.ToString(put.Setting.PrincipalArn) != root || put.Setting.Type != types.SettingTypeUser {
		t.Fatalf("PutAccountSetting = %+v, %v", put, err)
	}
	role := "arn:aws:iam::123456789012:role/deployer"
	if _, err := c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: types.SettingNameTagResourceAuthorization, Value: aws.String("off"), PrincipalArn: aws.String(role)}); err != nil {
		t.Fatal(err)
	}
	eff, err = c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{EffectiveSettings: true, Name: types.SettingNameContainerInsights})
	if err != nil || aws.ToString(eff.Settings[0].Value) != "enabled" {
		t.Fatalf("effective after own put = %+v, %v", eff, err)
	}
	forRole, err := c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{PrincipalArn: aws.String(role)})
	if err != nil || len(forRole.Settings) != 1 || forRole.Settings[0].Name != types.SettingNameTagResourceAuthorization {
		t.Fatalf("settings of another principal = %+v, %v", forRole, err)
	}

	// Paging: the effective list has more than a page of 3.
	var all []types.Setting
	p := ecs.NewListAccountSettingsPaginator(c, &ecs.ListAccountSettingsInput{EffectiveSettings: true, MaxResults: 3})
	for pages := 0; p.HasMorePages(); pages++ {
		if pages > 20 {
			t.Fatal("ListAccountSettings paging does not end")
		}
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Settings) > 3 {
			t.Fatalf("page of %d settings, want at most 3", len(out.Settings))
		}
		all = append(all, out.Settings...)
	}
	if m := settingMap(all); len(m) != len(all) || len(all) < 4 || aws.ToString(m[types.SettingNameContainerInsights].Value) != "enabled" {
		t.Errorf("effective settings over pages = %+v", all)
	}

	// Bad values and deleting what is not set.
	_, err = c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: types.SettingNameContainerInsights, Value: aws.String("sometimes")})
	wantCode(t, err, "InvalidParameterException")
	if err != nil && !strings.Contains(err.Error(), "sometimes") {
		t.Errorf("error does not name the bad value: %v", err)
	}
	_, err = c.PutAccountSettingDefault(ctx, &ecs.PutAccountSettingDefaultInput{Name: "noSuchSetting", Value: aws.String("enabled")})
	wantCode(t, err, "InvalidParameterException")

	del, err := c.DeleteAccountSetting(ctx, &ecs.DeleteAccountSettingInput{Name: types.SettingNameContainerInsights})
	if err != nil || aws.ToString(del.Setting.Value) != "enabled" {
		t.Fatalf("DeleteAccountSetting = %+v, %v", del, err)
	}
	_, err = c.DeleteAccountSetting(ctx, &ecs.DeleteAccountSettingInput{Name: types.SettingNameContainerInsights})
	wantCode(t, err, "InvalidParameterException")
	eff, err = c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{EffectiveSettings: true, Name: types.SettingNameContainerInsights})
	if err != nil || aws.ToString(eff.Settings[0].Value) != "enhanced" {
		t.Fatalf("effective after delete = %+v, %v", eff, err)
	}

	// Settings are durable.
	s.restart()
	eff, err = c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{EffectiveSettings: true, Name: types.SettingNameContainerInsights})
	if err != nil || aws.ToString(eff.Settings[0].Value) != "enhanced" {
		t.Fatalf("effective after restart = %+v, %v", eff, err)
	}
}

func TestTagLimitsSDK(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	ctx := context.Background()
	cl, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("tagged")})
	if err != nil {
		t.Fatal(err)
	}
	arn := cl.Cluster.ClusterArn
	tags := func(n int) []types.Tag {
		var ts []types.Tag
		for i := 0; i < n; i++ {
			ts = append(ts, types.Tag{Key: aws.String(fmt.Sprintf("k%02d", i)), Value: aws.String("v")})
		}
		return ts
	}
	if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: arn, Tags: tags(50)}); err != nil {
		t.Fatalf("50 tags: %v", err)
	}
	// A 51st distinct key is one too many; re-tagging existing keys is fine.
	_, err = c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{{Key: aws.String("extra"), Value: aws.String("v")}}})
	wantCode(t, err, "InvalidParameterException")
	if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: arn, Tags: tags(3)}); err != nil {
		t.Fatalf("re-tagging existing keys: %v", err)
	}
	for name, tag := range map[string]types.Tag{
		"key of 129":   {Key: aws.String(strings.Repeat("k", 129)), Value: aws.String("v")},
		"value of 257": {Key: aws.String("k"), Value: aws.String(strings.Repeat("v", 257))},
		"aws: prefix":  {Key: aws.String("AWS:owner"), Value: aws.String("v")},
	} {
		_, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{tag}})
		if apiErrorCode(err) != "InvalidParameterException" {
			t.Errorf("%s: got %v, want InvalidParameterException", name, err)
		}
	}
	lt, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: arn})
	if err != nil || len(lt.Tags) != 50 {
		t.Fatalf("after rejected tags: %d tags, %v; want the 50 accepted", len(lt.Tags), err)
	}
}
