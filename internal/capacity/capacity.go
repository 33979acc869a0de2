// Package capacity is the arithmetic of Amazon ECS capacity: how a capacity
// provider strategy splits tasks between providers, which strategies ECS
// accepts, and which task sizes Fargate runs. It does no IO and keeps no
// state, so the API and the scheduler share one exhaustively tested copy.
package capacity

import (
	"fmt"
	"slices"
	"strings"
)

// Item is one entry of a capacity provider strategy: the provider's short
// name, the number of tasks it must run before weights apply (Base), and its
// relative share of the tasks beyond the bases (Weight).
type Item struct {
	Provider     string
	Base, Weight int
}

// ECS's limits on a capacity provider strategy.
const (
	MaxItems  = 20     // capacity providers in one strategy
	MaxBase   = 100000 // base of one item
	MaxWeight = 1000   // weight of one item
)

// Distribute assigns count new tasks to providers as ECS's capacity provider
// strategy does and returns the provider of each new task, in order.
//
// The base of each item is satisfied first, counting the tasks already
// running on that provider (running, by provider name; nil for none): a
// provider with base 2 and one running task gets one task before any weight
// is considered. The remaining tasks are split by weight. Each weighted
// provider's share counts its running and new tasks beyond its base, and
// each task goes to the provider furthest below its share of the total
// (ties to the earlier item), so that after n weighted tasks a provider with
// weight w of a total W holds within one task of n·w/W. Items of weight 0
// take no weighted tasks; when every weight is 0 (a single-provider
// strategy, which ECS allows) the items share the rest equally.
//
// Distribute expects a strategy ValidateStrategy accepts; it returns nil for
// an empty strategy or a count below 1.
func Distribute(strategy []Item, count int, running map[string]int) []string {
	if len(strategy) == 0 || count < 1 {
		return nil
	}
	out := make([]string, 0, count)
	added := make([]int, len(strategy))
	for i, it := range strategy {
		for n := running[it.Provider]; n < it.Base && len(out) < count; n++ {
			out = append(out, it.Provider)
			added[i]++
		}
	}
	weights := make([]int64, len(strategy))
	var total int64 // weights' sum
	for i, it := range strategy {
		weights[i] = int64(max(it.Weight, 0))
		total += weights[i]
	}
	if total == 0 {
		for i := range weights {
			weights[i] = 1
		}
		total = int64(len(weights))
	}
	// held[i] is item i's weighted tasks: running and new beyond its base.
	held := make([]int64, len(strategy))
	var placed int64 // sum of held
	for i, it := range strategy {
		if weights[i] == 0 {
			continue
		}
		held[i] = int64(max(running[it.Provider]+added[i]-max(it.Base, 0), 0))
		placed += held[i]
	}
	for len(out) < count {
		// The deficit of item i after one more task is
		// (placed+1)·w_i/W − held_i; compare it scaled by W.
		best, bestDeficit := -1, int64(0)
		for i := range strategy {
			if weights[i] == 0 {
				continue
			}
			d := (placed+1)*weights[i] - held[i]*total
			if best < 0 || d > bestDeficit {
				best, bestDeficit = i, d
			}
		}
		held[best]++
		placed++
		out = append(out, strategy[best].Provider)
	}
	return out
}

// ValidateStrategy checks strategy against ECS's rules for a capacity
// provider strategy and returns the message of the first rule broken, or ""
// when it is valid (an empty strategy is valid: it means none). The rules:
// at most MaxItems items, each naming a provider once, a base of 0 to
// MaxBase and a weight of 0 to MaxWeight; at most one item with a base above
// 0; and, when there is more than one item, at least one weight above 0.
func ValidateStrategy(strategy []Item) string {
	if len(strategy) > MaxItems {
		return fmt.Sprintf("The specified capacity provider strategy contains %d capacity providers. A capacity provider strategy can contain a maximum of %d capacity providers.", len(strategy), MaxItems)
	}
	bases, weighted := 0, false
	for i, it := range strategy {
		switch {
		case it.Provider == "":
			return fmt.Sprintf("The capacity provider strategy item %d does not name a capacity provider. Specify a capacity provider and try again.", i+1)
		case slices.ContainsFunc(strategy[:i], func(o Item) bool { return o.Provider == it.Provider }):
			return fmt.Sprintf("The specified capacity provider strategy cannot contain duplicate capacity providers. Capacity provider %s is specified more than once.", it.Provider)
		case it.Base < 0 || it.Base > MaxBase:
			return fmt.Sprintf("The specified capacity provider strategy has an invalid base value of %d for capacity provider %s. The base value must be between 0 and %d.", it.Base, it.Provider, MaxBase)
		case it.Weight < 0 || it.Weight > MaxWeight:
			return fmt.Sprintf("The specified capacity provider strategy has an invalid weight value of %d for capacity provider %s. The weight value must be between 0 and %d.", it.Weight, it.Provider, MaxWeight)
		}
		if it.Base > 0 {
			bases++
		}
		if it.Weight > 0 {
			weighted = true
		}
	}
	if bases > 1 {
		return "The specified capacity provider strategy has more than one capacity provider with a base value. Only one capacity provider may have a base greater than 0."
	}
	if len(strategy) > 1 && !weighted {
		return "There are no capacity providers with a weight value greater than zero defined in the capacity provider strategy. At least one capacity provider must have a weight value greater than zero specified."
	}
	return ""
}

// fargateSize is one row of Fargate's task size table: a task CPU value and
// the memory values (MiB) it runs with, from minMem to maxMem in steps.
type fargateSize struct {
	cpu, minMem, maxMem, step int64
}

// fargateSizes is the table of supported task CPU and memory combinations
// in the Amazon ECS Developer Guide. 256 CPU runs 512, 1024 or 2048 MiB,
// which a step of 512 would overshoot (1536), so it is listed value by value.
var fargateSizes = []fargateSize{
	{256, 512, 512, 1}, {256, 1024, 2048, 1024},
	{512, 1024, 4096, 1024},
	{1024, 2048, 8192, 1024},
	{2048, 4096, 16384, 1024},
	{4096, 8192, 30720, 1024},
	{8192, 16384, 61440, 4096},
	{16384, 32768, 122880, 8192},
}

// FargateSizeOK reports whether task-level cpu (CPU units) and memory (MiB)
// are a combination Fargate supports; when not, msg is the ClientException
// message ECS returns.
func FargateSizeOK(cpu, memory int64) (ok bool, msg string) {
	for _, s := range fargateSizes {
		if cpu == s.cpu && memory >= s.minMem && memory <= s.maxMem && (memory-s.minMem)%s.step == 0 {
			return true, ""
		}
	}
	return false, fmt.Sprintf("No Fargate configuration exists for given values: %d CPU, %d memory. See the Amazon ECS documentation for the valid values.", cpu, memory)
}

// Attributes the berth agent registers to say which capacity it is, and so
// which capacity providers place tasks on it.
const (
	// PoolAttribute is the agent's pool (berth agent --pool NAME). An Auto
	// Scaling group capacity provider stands for the pool named by its Auto
	// Scaling group (see PoolOf).
	PoolAttribute = "berth.pool"
	// LaunchTypeAttribute is the agent's launch type (berth agent
	// --launch-type): EC2, the default, EXTERNAL or FARGATE. The FARGATE and
	// FARGATE_SPOT capacity providers stand for the FARGATE agents.
	LaunchTypeAttribute = "berth.launch-type"
)

// LaunchTypes are the values of LaunchTypeAttribute.
var LaunchTypes = []string{"EC2", "EXTERNAL", "FARGATE"}

// PoolOf returns the agent pool an Auto Scaling group capacity provider
// stands for. ECS takes the group as an ARN
// (arn:aws:autoscaling:REGION:ACCOUNT:autoScalingGroup:UUID:autoScalingGroupName/NAME)
// or a bare name; the pool is NAME. ok is false for an ARN without a group
// name or an empty name.
func PoolOf(autoScalingGroup string) (pool string, ok bool) {
	if !strings.HasPrefix(autoScalingGroup, "arn:") {
		return autoScalingGroup, autoScalingGroup != ""
	}
	_, name, found := strings.Cut(autoScalingGroup, ":autoScalingGroupName/")
	return name, found && name != ""
}
