package containerspec

import (
	"slices"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/ecsapi"
)

// fallbackLogDriver is where logs go when the requested driver is not
// available.
const fallbackLogDriver = "json-file"

// Health check defaults of ECS, in seconds (and tries).
const (
	defaultHealthInterval = 30
	defaultHealthTimeout  = 5
	defaultHealthRetries  = 3
)

// logging sets the log driver. Docker's own drivers are passed through with
// their options; awslogs and awsfirelens need components berth does not
// have yet, so their logs stay in json-file (docker logs).
func (b *builder) logging() error {
	lc := b.c.LogConfiguration
	if lc == nil {
		return nil
	}
	if len(lc.SecretOptions) > 0 {
		b.warnf("logConfiguration.secretOptions are not supported: the log driver gets only its plain options")
	}
	switch lc.LogDriver {
	case ecsapi.LogDriverAwslogs:
		b.host.LogConfig = container.LogConfig{Type: fallbackLogDriver}
		b.warnf("log driver awslogs is not supported yet: logs stay in Docker (docker logs) until awslogs support lands")
	case ecsapi.LogDriverAwsfirelens:
		b.host.LogConfig = container.LogConfig{Type: fallbackLogDriver}
		b.warnf("log driver awsfirelens is not supported: logs stay in Docker (docker logs)")
	default:
		b.host.LogConfig = container.LogConfig{Type: string(lc.LogDriver), Config: copyStrings(lc.Options)}
	}
	return nil
}

// healthCheck sets Docker's health check with ECS's defaults for the
// missing timings (interval 30s, timeout 5s, 3 retries, no start period).
func (b *builder) healthCheck() error {
	hc := b.c.HealthCheck
	if hc == nil || len(hc.Command) == 0 {
		return nil
	}
	b.cfg.Healthcheck = &container.HealthConfig{
		Test:        b.healthTest(hc.Command),
		Interval:    seconds(hc.Interval, defaultHealthInterval),
		Timeout:     seconds(hc.Timeout, defaultHealthTimeout),
		StartPeriod: seconds(hc.StartPeriod, 0),
		Retries:     int(orDefault(hc.Retries, defaultHealthRetries)),
	}
	return nil
}

// healthTest keeps a command that starts with CMD, CMD-SHELL or NONE, and
// runs any other directly (Docker would otherwise never run it).
func (b *builder) healthTest(cmd []string) []string {
	switch cmd[0] {
	case "CMD", "CMD-SHELL", "NONE":
		return slices.Clone(cmd)
	}
	b.warnf("healthCheck.command does not start with CMD or CMD-SHELL: running it as CMD")
	return append([]string{"CMD"}, cmd...)
}

// orDefault is *p, or def when p is nil or negative.
func orDefault(p *int32, def int32) int32 {
	if p == nil || *p < 0 {
		return def
	}
	return *p
}

// seconds is orDefault as a duration in seconds.
func seconds(p *int32, def int32) time.Duration {
	return time.Duration(orDefault(p, def)) * time.Second
}
