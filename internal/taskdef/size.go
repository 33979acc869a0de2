package taskdef

import (
	"math"
	"math/big"
	"strings"
)

// ParseCPU converts a task-level cpu value to CPU units. ECS accepts a
// plain number of units ("1024") or a number of vCPUs with the unit
// ("1 vCPU", "0.25 vcpu", "2vCPU"); 1 vCPU is 1024 units. The result must be
// a whole, positive number of units that fits an int32.
func ParseCPU(s string) (int64, bool) {
	return parseQuantity(s, "vcpu")
}

// ParseMemory converts a task-level memory value to MiB. ECS accepts a plain
// number of MiB ("2048") or a number of gigabytes with the unit ("2 GB",
// "0.5GB"); 1 GB is 1024 MiB. The result must be a whole, positive number of
// MiB that fits an int32.
func ParseMemory(s string) (int64, bool) {
	return parseQuantity(s, "gb")
}

// parseQuantity parses "N" (a whole number) or "N unit" (a decimal number of
// units, unit matched case-insensitively, the space optional) and returns
// the value in the base unit, where one unit is 1024 of it.
func parseQuantity(s, unit string) (int64, bool) {
	s = strings.TrimSpace(s)
	num, scaled := s, false
	if len(s) >= len(unit) && strings.EqualFold(s[len(s)-len(unit):], unit) {
		num, scaled = strings.TrimSpace(s[:len(s)-len(unit)]), true
	}
	if num == "" || len(num) > 32 {
		return 0, false
	}
	dot := false
	for i := 0; i < len(num); i++ {
		switch c := num[i]; {
		case c >= '0' && c <= '9':
		case c == '.' && !dot && scaled && i > 0 && i < len(num)-1:
			dot = true
		default:
			return 0, false
		}
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, false
	}
	if scaled {
		r.Mul(r, big.NewRat(1024, 1))
	}
	if !r.IsInt() || r.Sign() <= 0 || !r.Num().IsInt64() {
		return 0, false
	}
	n := r.Num().Int64()
	if n > math.MaxInt32 {
		return 0, false
	}
	return n, true
}

// fargateSizes lists, for each Fargate task cpu (units) above 256, the
// memory values (MiB) it can be paired with: min to max in steps of step.
// With the 256 case in fargateSizeOK, this is the developer guide's "Task
// size" table for Linux tasks.
var fargateSizes = map[int64]struct{ min, max, step int64 }{
	512:   {1024, 4096, 1024},
	1024:  {2048, 8192, 1024},
	2048:  {4096, 16384, 1024},
	4096:  {8192, 30720, 1024},
	8192:  {16384, 61440, 4096},
	16384: {32768, 122880, 8192},
}

// fargateSizeOK reports whether cpu units and memory MiB are a valid
// Fargate task size.
func fargateSizeOK(cpu, mem int64) bool {
	if cpu == 256 {
		return mem == 512 || mem == 1024 || mem == 2048
	}
	r, ok := fargateSizes[cpu]
	return ok && mem >= r.min && mem <= r.max && (mem-r.min)%r.step == 0
}

// Limits on task-level cpu for tasks that are not run on Fargate.
const (
	minTaskCPU = 128    // 0.125 vCPU
	maxTaskCPU = 196608 // 192 vCPU
)
