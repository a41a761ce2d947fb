package chaos

import (
	"fmt"
	"strings"
	"time"
)

// Table renders the results as a Markdown table: one row per round with its fault, what
// happened, the writer's outage, the convergence time and the losses.
func Table(results []Result) string {
	head := []string{"#", "fault", "what happened", "outage", "converged", "acked", "lost", "allowed loss", "re-cloned", "probes ok/all", "result"}
	rows := [][]string{head}
	for _, r := range results {
		result := "ok"
		if len(r.Violations) > 0 {
			result = "VIOLATED: " + strings.Join(r.Violations, "; ")
		}
		allowed := r.Allowed
		if allowed == "" {
			allowed = "0"
		}
		recloned := "-"
		if r.Recloned != nil {
			recloned = fmt.Sprint(len(r.Recloned))
		}
		rows = append(rows, []string{fmt.Sprint(r.Round), r.Step.Fault.String(), r.Detail, dur(r.Outage), dur(r.Converge),
			fmt.Sprint(r.Acked), fmt.Sprint(r.Lost), allowed, recloned, r.Probes, result})
	}
	width := make([]int, len(head))
	for _, row := range rows {
		for i, cell := range row {
			width[i] = max(width[i], len([]rune(cell)))
		}
	}
	var b strings.Builder
	line := func(row []string) {
		b.WriteString("|")
		for i, cell := range row {
			b.WriteString(" " + cell + strings.Repeat(" ", width[i]-len([]rune(cell))) + " |")
		}
		b.WriteString("\n")
	}
	line(rows[0])
	b.WriteString("|")
	for _, w := range width {
		b.WriteString(strings.Repeat("-", w+2) + "|")
	}
	b.WriteString("\n")
	for _, row := range rows[1:] {
		line(row)
	}
	return b.String()
}

// dur prints a measured duration; a round that failed before measuring it shows "-".
func dur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(10 * time.Millisecond).String()
}

// Replay is the command that replays a seed's rounds.
func Replay(p Profile, rounds int) string {
	return fmt.Sprintf("CHAOS_SEED=%d make chaos   (this run: profile %s, %d round(s); CHAOS_SEED=%d CHAOS_ROUNDS=%d make chaos plays exactly these)",
		p.Seed, p.Name, rounds, p.Seed, max(rounds, 1))
}

// Failure is the message of the first broken invariant, or "" when every round held.
func Failure(p Profile, results []Result) string {
	for _, r := range results {
		if len(r.Violations) > 0 {
			return fmt.Sprintf("chaos seed %d, round %d (%s: %s): invariant broken: %s",
				p.Seed, r.Round, r.Step.Fault, r.Detail, strings.Join(r.Violations, "; "))
		}
	}
	return ""
}
