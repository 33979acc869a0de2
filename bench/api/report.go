package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// writeMarkdown prints one table per scenario (rows target × concurrency) and
// a berth/moto throughput ratio line under each.
func writeMarkdown(w io.Writer, rep *report) {
	c := rep.Config
	fmt.Fprintf(w, "Run %s — %s measured per cell after %s warm-up (at most %d requests per cell), GOMAXPROCS %d.\n\n",
		rep.Started.Format("2006-01-02 15:04 UTC"), c.Duration, c.Warmup, c.MaxRequests, c.GoMaxProcs)
	fmt.Fprintln(w, "| target | revisions stored | setup: register rate | ListTaskDefinitions first page |")
	fmt.Fprintln(w, "|---|---:|---:|---|")
	for _, t := range rep.Targets {
		page := fmt.Sprintf("%d ARNs", t.ListPageItems)
		if t.ListNextToken {
			page += " + nextToken"
		} else {
			page += ", no nextToken"
		}
		stored := fmt.Sprintf("%d", t.Stored)
		if t.Stored != t.Revisions {
			stored += fmt.Sprintf(" (of %d requested)", t.Revisions)
		}
		setupNote := fmt.Sprintf("%.0f/s (%.1f s)", t.SetupRate, t.SetupSeconds)
		if t.SetupErrors > 0 {
			setupNote += fmt.Sprintf(", %d errors", t.SetupErrors)
		}
		if t.SetupTimedOut {
			setupNote += ", timed out"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", t.Name, stored, setupNote, page)
	}
	fmt.Fprintln(w)

	for _, s := range c.Scenarios {
		fmt.Fprintf(w, "### %s\n\n", s)
		fmt.Fprintln(w, "| target | client code | clients | req/s | p50 ms | p99 ms | errors |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|")
		for _, ce := range rep.Cells {
			if ce.Scenario != s {
				continue
			}
			if ce.Skipped != "" {
				fmt.Fprintf(w, "| %s | %s | %d | – | – | – | %s |\n", ce.Target, ce.Client, ce.Concurrency, ce.Skipped)
				continue
			}
			capped := ""
			if ce.Capped {
				capped = " (capped)"
			}
			fmt.Fprintf(w, "| %s | %s | %d | %s%s | %.3f | %.3f | %d |\n",
				ce.Target, ce.Client, ce.Concurrency, fmtRate(ce.ReqPerSec), capped, ce.P50ms, ce.P99ms, ce.Errors)
		}
		fmt.Fprintln(w)
		if r := ratioLine(rep, s); r != "" {
			fmt.Fprintln(w, r)
			fmt.Fprintln(w)
		}
		var errLines []string
		for _, ce := range rep.Cells {
			if ce.Scenario != s {
				continue
			}
			for k, n := range ce.ErrorKinds {
				errLines = append(errLines, fmt.Sprintf("- %s, %s, %d clients: %d × `%s`", ce.Target, ce.Client, ce.Concurrency, n, k))
			}
		}
		slices.Sort(errLines)
		if len(errLines) > 0 {
			fmt.Fprintln(w, "Errors:")
			fmt.Fprintln(w)
			fmt.Fprintln(w, strings.Join(errLines, "\n"))
			fmt.Fprintln(w)
		}
	}
	writeFloors(w, rep)
	for _, f := range rep.Failures {
		fmt.Fprintf(w, "**%s**\n\n", f)
	}
}

// writeFloors prints the floors beside moto's and berth's DescribeClusters
// (raw client), and the bounds they put on the one-client targets.
func writeFloors(w io.Writer, rep *report) {
	var floors []*cell
	for _, ce := range rep.Cells {
		if ce.Scenario == floorScenario {
			floors = append(floors, ce)
		}
	}
	if len(floors) == 0 && rep.SyncFloorMs == 0 {
		return
	}
	fmt.Fprintln(w, "### Floors: servers that do no work, each in its own process")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| floor | clients | req/s | p50 ms | p99 ms | ×moto DescribeClusters | berth DescribeClusters / floor |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	for _, ce := range floors {
		vsMoto, berthShare := "–", "–"
		if m := find(rep, "moto", "DescribeClusters", "raw", ce.Concurrency); m != nil && m.ReqPerSec > 0 {
			vsMoto = fmt.Sprintf("%.1f×", ce.ReqPerSec/m.ReqPerSec)
		}
		if b := find(rep, "berth", "DescribeClusters", "raw", ce.Concurrency); b != nil && ce.ReqPerSec > 0 {
			berthShare = fmt.Sprintf("%.0f %%", 100*b.ReqPerSec/ce.ReqPerSec)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %.3f | %.3f | %s | %s |\n", ce.Target, ce.Concurrency, fmtRate(ce.ReqPerSec), ce.P50ms, ce.P99ms, vsMoto, berthShare)
	}
	fmt.Fprintln(w)
	if rep.SyncFloorMs > 0 {
		fmt.Fprintf(w, "One 4 KiB write + fdatasync (the least a durable commit costs): %.3f ms.\n\n", rep.SyncFloorMs)
	}
	if m := find(rep, "moto", "DescribeClusters", "raw", 1); m != nil && m.ReqPerSec > 0 {
		line := fmt.Sprintf("- Reads at 50× moto with one client: %s DescribeClusters/s, %.0f µs per call.", fmtRate(50*m.ReqPerSec), 1e6/(50*m.ReqPerSec))
		for _, kind := range []string{floorRaw, floorPingPong} {
			if f := find(rep, kind, floorScenario, "raw", 1); f != nil {
				line += fmt.Sprintf(" %s: %s/s (%.1f× moto).", kind, fmtRate(f.ReqPerSec), f.ReqPerSec/m.ReqPerSec)
			}
		}
		fmt.Fprintln(w, line)
	}
	if m, raw := find(rep, "moto", "RegisterTaskDefinition", "raw", 1), find(rep, floorRaw, floorScenario, "raw", 1); m != nil && raw != nil && m.ReqPerSec > 0 && raw.ReqPerSec > 0 && rep.SyncFloorMs > 0 {
		bound := 1 / (1/raw.ReqPerSec + rep.SyncFloorMs/1e3)
		fmt.Fprintf(w, "- Durable writes with one client: the raw floor's round trip plus one fdatasync allows %s/s, %.1f× moto's RegisterTaskDefinition (%s/s).\n",
			fmtRate(bound), bound/m.ReqPerSec, fmtRate(m.ReqPerSec))
	}
	fmt.Fprintln(w)
}

// ratioLine is "berth/moto throughput: raw 1 client 52.3×, 8 clients 40.1×; sdk …".
func ratioLine(rep *report, scenario string) string {
	var lines []string
	for _, cl := range rep.Config.Clients {
		if l := ratioOf(rep, scenario, cl); l != "" {
			lines = append(lines, cl+" "+l)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return "berth/moto throughput: " + strings.Join(lines, "; ")
}

// find returns the measured cell, or nil.
func find(rep *report, target, scenario, client string, conc int) *cell {
	for _, ce := range rep.Cells {
		if ce.Target == target && ce.Scenario == scenario && ce.Client == client && ce.Concurrency == conc && ce.Skipped == "" {
			return ce
		}
	}
	return nil
}

func ratioOf(rep *report, scenario, client string) string {
	var parts []string
	for _, conc := range rep.Config.Concurrency {
		b, m := find(rep, "berth", scenario, client, conc), find(rep, "moto", scenario, client, conc)
		if b == nil || m == nil {
			continue
		}
		unit := "clients"
		if conc == 1 {
			unit = "client"
		}
		r := "n/a (moto 0 req/s)"
		if m.ReqPerSec > 0 {
			r = fmt.Sprintf("%.1f×", b.ReqPerSec/m.ReqPerSec)
		}
		parts = append(parts, fmt.Sprintf("%d %s %s", conc, unit, r))
	}
	return strings.Join(parts, ", ")
}

func fmtRate(r float64) string {
	if r >= 100 {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.1f", r)
}
