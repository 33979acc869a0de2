package placement

import (
	"fmt"
	"strings"
)

// Strategy types.
const (
	Binpack = "binpack"
	Spread  = "spread"
	Random  = "random"
)

// MaxStrategies is how many strategies a chain may hold, as ECS allows.
const MaxStrategies = 5

// Strategy is one link of a placement strategy chain.
type Strategy struct {
	Type string
	// Field is "cpu" or "memory" for binpack; "instanceId" or
	// "attribute:<name>" for spread ("host" is read as "instanceId").
	Field string
}

// attribute is the attribute name a spread strategy counts by, or "" for
// instanceId.
func (s Strategy) attribute() string {
	if name, ok := strings.CutPrefix(s.Field, "attribute:"); ok && s.Type == Spread {
		return name
	}
	return ""
}

func (s Strategy) String() string {
	if s.Type == Random {
		return Random
	}
	return s.Type + "(" + s.Field + ")"
}

// ParseStrategy validates one strategy as ECS does and returns it in its
// canonical form.
func ParseStrategy(typ, field string) (Strategy, error) {
	switch typ {
	case Random:
		return Strategy{Type: Random}, nil
	case Binpack:
		switch f := strings.ToLower(field); f {
		case "cpu", "memory":
			return Strategy{Type: Binpack, Field: f}, nil
		}
		return Strategy{}, fmt.Errorf("Invalid field %q for placement strategy type binpack: the field must be cpu or memory.", field)
	case Spread:
		switch {
		case strings.EqualFold(field, "instanceId"), strings.EqualFold(field, "host"):
			return Strategy{Type: Spread, Field: "instanceId"}, nil
		case strings.HasPrefix(field, "attribute:") && len(field) > len("attribute:"):
			return Strategy{Type: Spread, Field: field}, nil
		}
		return Strategy{}, fmt.Errorf("Invalid field %q for placement strategy type spread: the field must be instanceId, host or attribute:<name>.", field)
	case "":
		return Strategy{}, fmt.Errorf("A placement strategy needs a type: binpack, spread or random.")
	}
	return Strategy{}, fmt.Errorf("Invalid placement strategy type %q: the type must be binpack, spread or random.", typ)
}

// DefaultServiceStrategy is the chain ECS uses for a service that names
// none: spread across Availability Zones, then across instances.
var DefaultServiceStrategy = []Strategy{
	{Type: Spread, Field: "attribute:ecs.availability-zone"},
	{Type: Spread, Field: "instanceId"},
}

// A standalone task (RunTask) with no strategy is placed randomly among
// the instances that can take it: an empty chain ends in Place's random
// tie-break, which is exactly the random strategy.
