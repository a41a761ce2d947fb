package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/postgres"
	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// units per cluster, and how often the prober asks every unit (the issue asks for 100-200 ms).
const (
	clusterSize   = 3
	probeInterval = 150 * time.Millisecond
	charmName     = "postgresql-k8s"
	standaloneMsg = "Standalone read-only cluster"
)

// systemUsers are the users set-password accepts (charm.SystemUsers; the drill does not
// import the charm).
var systemUsers = []string{"operator", "replication", "rewind", "monitoring"}

// side is one cluster: a model and its application.
type side struct{ Model, App string }

// Result is what one round did and measured.
type Result struct {
	Round      int
	Step       Step
	Detail     string
	Outage     time.Duration // the writer's longest gap from the fault to the round's end
	Converge   time.Duration // fault → converged (roles settled, probes healthy, data replicated)
	Acked      int           // inserts acknowledged during the round
	Lost       int           // of all acknowledged inserts, those newly missing after the round
	Allowed    string        // forced rounds: what the promotion said could be lost
	Probes     string        // probe rounds in the round: complete / all
	Recloned   []string      // units whose data directory was replaced (nil: not measured)
	Violations []string      // invariant: what went wrong
}

func (r *Result) violate(invariant string, err error) {
	r.Violations = append(r.Violations, fmt.Sprintf("%s: %v", invariant, err))
}

// Drill is a running chaos drill.
type Drill struct {
	t    testing.TB
	prof Profile
	j    *scenario.Jujulet
	seed *scenario.Seed

	rome, lisbon     side // rome offers replication-offer, lisbon consumes it
	primary, standby side // the roles now

	clusters map[string]*scenario.Cluster // by model
	w        *writer
	p        *scenario.Prober
	lost     map[int64]bool // acknowledged ids a forced round was allowed to lose
	paused   bool           // the writer is paused until the round converges (detach)
	results  []Result
}

// Setup starts a controller, deploys rome/db1 and lisbon/db2 with three units each, relates
// them and runs create-replication (rome primary), then starts the writer and the prober.
func Setup(t testing.TB, ctx context.Context, prof Profile) *Drill {
	t.Helper()
	j := scenario.StartJujulet(t)
	s := scenario.NewSeed(j, charmName)
	d := &Drill{t: t, prof: prof, j: j, seed: s, rome: side{s.Rome, s.DB1}, lisbon: side{s.Lisbon, s.DB2}, lost: map[int64]bool{}}
	opts := scenario.SeedDeploy()
	opts.Units = clusterSize
	for _, c := range []side{d.rome, d.lisbon} {
		if err := errors.Join(j.AddModel(ctx, c.Model), j.Deploy(ctx, c.Model, charmName, c.App, opts)); err != nil {
			t.Fatalf("chaos setup: %v", err)
		}
	}
	for _, c := range []side{d.rome, d.lisbon} {
		sctx, cancel := context.WithTimeout(ctx, s.SettleTimeout)
		err := scenario.WaitFor(sctx, j, c.Model, c.App+" settled", scenario.All(scenario.AppSettled(c.App, clusterSize, ""),
			scenario.UnitMessages(c.App, map[string]int{"Primary": 1, "Replica": clusterSize - 1}), scenario.PrimaryOffLeader(c.App)))
		cancel()
		if err != nil {
			t.Fatalf("chaos setup: %v", err)
		}
	}
	s.Relate(t, ctx)
	s.CreateReplication(t, ctx, clusterSize)
	d.primary, d.standby = d.rome, d.lisbon
	rome, lisbon := s.Clusters(t, ctx)
	d.clusters = map[string]*scenario.Cluster{d.rome.Model: rome, d.lisbon.Model: lisbon}

	d.w = newWriter("chaos", rome, lisbon)
	d.p = scenario.NewProber(probeInterval, rome, lisbon)
	lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{}, 2)
	go func() { d.w.Run(lctx); done <- struct{}{} }()
	go func() { d.p.Run(lctx); done <- struct{}{} }()
	t.Cleanup(func() { stop(); <-done; <-done })
	if err := errors.Join(d.w.WaitAcks(ctx, 20, 2*time.Minute), d.p.WaitHealthy(ctx)); err != nil {
		t.Fatalf("chaos setup: writer and prober: %v", err)
	}
	return d
}

// Run plays the seed's rounds until the budget (counted from start) or the round limit,
// stopping at the first round that breaks an invariant, and returns the results.
func (d *Drill) Run(ctx context.Context, start time.Time) []Result {
	n := d.prof.MaxRounds
	if n == 0 {
		n = 1000
	}
	for i, step := range Plan(d.prof.Seed, n) {
		if i > 0 && time.Since(start) > d.prof.Budget {
			d.t.Logf("chaos: budget %v spent after %d rounds", d.prof.Budget, i)
			break
		}
		d.t.Logf("chaos: round %d: %s (pick %d, delay %v, downtime %v); %s primary", i+1, step.Fault, step.Pick, step.Delay, step.Downtime, d.primary.App)
		r := d.round(ctx, i+1, step)
		d.results = append(d.results, r)
		d.t.Logf("chaos: round %d: %s: %s; outage %v, converged in %v, %d acked, %d lost, re-cloned %v, probes %s%s",
			r.Round, step.Fault, r.Detail, r.Outage.Round(time.Millisecond), r.Converge.Round(time.Millisecond), r.Acked, r.Lost, r.Recloned, r.Probes, violationSuffix(r))
		if len(r.Violations) > 0 || ctx.Err() != nil {
			break
		}
	}
	return d.results
}

func violationSuffix(r Result) string {
	if len(r.Violations) == 0 {
		return ""
	}
	return "; VIOLATED: " + strings.Join(r.Violations, "; ")
}

// Probe is the prober's report over the whole drill.
func (d *Drill) Probe() scenario.ProbeReport { return d.p.Report() }

// round injects one fault and checks the invariants after it.
func (d *Drill) round(ctx context.Context, n int, step Step) (r Result) {
	r = Result{Round: n, Step: step}
	since := time.Now()
	// Whatever else failed, what the prober saw during the round is checked.
	defer d.checkProbes(since, &r)
	defer d.resume()
	if err := d.p.WaitHealthy(ctx); err != nil {
		r.violate("probes reach every unit before the fault", err)
		return r
	}
	if err := d.w.WaitAcks(ctx, d.w.Count()+5, 2*time.Minute); err != nil {
		r.violate("writes go on before the fault", err)
		return r
	}
	// Which copy of the data each unit serves, to report re-clones (a base backup is
	// expected only where the protocol says so: a re-seeded standby, a failed rewind).
	identities, idErr := scenario.DataIdentities(ctx, d.clusters[d.rome.Model], d.clusters[d.lisbon.Model])
	before := d.w.Count()
	start := time.Now()
	var rpo *forcedRPO
	accept, err := d.inject(ctx, n, step, &r, &rpo)
	if err != nil {
		r.violate("the fault is injected as planned", err)
		return r
	}
	if err := d.converge(ctx, n, accept, &r); err != nil {
		r.violate(fmt.Sprintf("converged within %v", d.prof.Converge), err)
		return r
	}
	r.Converge = time.Since(start)
	d.resume()
	if step.Fault == UnitSwitchover {
		if _, unit, err := scenario.Primary(ctx, d.clusters[d.primary.Model]); err == nil && !strings.HasSuffix(r.Detail, unit) {
			r.violate("the in-cluster switchover's target is primary", fmt.Errorf("%s is primary after %s", unit, r.Detail))
		}
	}
	if err := d.w.WaitAcks(ctx, d.w.Count()+10, 2*time.Minute); err != nil {
		r.violate("writes resume after convergence", err)
	}
	end := time.Now()
	if idErr == nil {
		if after, err := scenario.DataIdentities(ctx, d.clusters[d.rome.Model], d.clusters[d.lisbon.Model]); err == nil {
			r.Recloned = append([]string{}, scenario.Recloned(identities, after)...)
		}
	}
	r.Outage = d.w.LongestGap(start, end)
	r.Acked = d.w.Count() - before
	d.checkLoss(ctx, step, rpo, &r)
	return r
}

// resume lets a writer paused by the round write again.
func (d *Drill) resume() {
	if d.paused {
		d.w.Resume()
		d.paused = false
	}
}

// checkProbes: no probe round since the round began saw two writable units; and how many
// reached every unit.
func (d *Drill) checkProbes(since time.Time, r *Result) {
	complete, all := 0, 0
	var split []string
	for _, pr := range d.p.Rounds() {
		if pr.Start.Before(since) {
			continue
		}
		all++
		if pr.Complete() {
			complete++
		}
		if len(pr.Writable) > 1 {
			split = append(split, pr.String())
		}
	}
	r.Probes = fmt.Sprintf("%d/%d", complete, all)
	if len(split) > 0 {
		r.violate("never two writable units", fmt.Errorf("%d of %d probe rounds saw two: first %s; last %s", len(split), all, split[0], split[len(split)-1]))
	}
}

// forcedRPO is the bound a forced promotion gave: acknowledged writes whose commit is at or
// below Received must survive.
type forcedRPO struct {
	Received postgres.LSN
}

// inject causes the round's fault and returns the sides either of which may be the primary
// cluster once the drill has converged.
func (d *Drill) inject(ctx context.Context, n int, step Step, r *Result, rpo **forcedRPO) ([]side, error) {
	P, S := d.primary, d.standby
	switch step.Fault {
	case Planned:
		r.Detail = P.App + " → " + S.App
		if err := d.action(ctx, S.Model, S.App+"/leader", "promote-to-primary", map[string]any{"scope": "cluster"}); err != nil {
			return nil, err
		}
		return []side{S}, nil

	case SwitchoverKillOld, SwitchoverKillNew:
		var victim string
		if step.Fault == SwitchoverKillOld {
			_, unit, err := scenario.Primary(ctx, d.clusters[P.Model])
			if err != nil {
				return nil, fmt.Errorf("old primary: %w", err)
			}
			victim = P.Model + ":" + unit
		} else {
			head, err := d.unitWithMessage(ctx, S, "Standby", step.Pick)
			if err != nil {
				return nil, err
			}
			victim = S.Model + ":" + head
		}
		done := make(chan error, 1)
		go func() {
			done <- d.action(ctx, S.Model, S.App+"/leader", "promote-to-primary", map[string]any{"scope": "cluster"})
		}()
		if err := sleep(ctx, step.Delay); err != nil {
			return nil, err
		}
		model, unit, _ := strings.Cut(victim, ":")
		if err := d.j.KillPod(ctx, model, unit); err != nil {
			return nil, err
		}
		aerr := <-done
		outcome := "completed"
		if aerr != nil {
			// The kill may land before the action runs or while it does: a failed action
			// is an outcome, the invariants judge what follows.
			outcome = "failed: " + firstLine(aerr.Error())
		}
		r.Detail = fmt.Sprintf("%s → %s, %s killed at +%v, action %s", P.App, S.App, unit, step.Delay, outcome)
		return []side{S, P}, nil

	case Forced:
		units := sortedUnits(d.clusters[P.Model])
		for _, u := range units {
			if err := d.j.StopPod(ctx, P.Model, u); err != nil {
				return nil, err
			}
		}
		// With every pod of P down nothing more reaches S: its head's receive position is
		// final, and bounds the loss if the action does not report one.
		measured, err := d.headReceived(ctx, S, step.Pick)
		if err != nil {
			return nil, err
		}
		res, err := d.j.RunAction(ctx, S.Model, S.App+"/leader", "promote-to-primary", map[string]any{"scope": "cluster", "force": true})
		if err != nil {
			return nil, err
		}
		if res.Status != "completed" {
			return nil, fmt.Errorf("promote-to-primary force=true on %s: %s: %s", S.App, res.Status, res.Message)
		}
		b := &forcedRPO{Received: measured}
		if s, ok := res.Results["received-lsn"].(string); ok {
			lsn, err := postgres.ParseLSN(s)
			if err != nil {
				return nil, fmt.Errorf("promote-to-primary reported received-lsn %q: %w", s, err)
			}
			b.Received = lsn
			r.Allowed = fmt.Sprintf("acks after %s (unreplayed %v B)", lsn, res.Results["unreplayed-bytes"])
		} else {
			r.Allowed = fmt.Sprintf("acks after %s (measured; action reported no RPO)", measured)
		}
		*rpo = b
		t0 := time.Now()
		if err := d.waitWritable(ctx, S); err != nil {
			return nil, err
		}
		writable := time.Since(t0)
		if err := sleep(ctx, step.Downtime); err != nil {
			return nil, err
		}
		for _, u := range units {
			if err := d.j.StartPod(ctx, P.Model, u); err != nil {
				return nil, err
			}
		}
		r.Detail = fmt.Sprintf("%s down, %s promoted (writable after %v), back after %v", P.App, S.App, writable.Round(time.Millisecond), step.Downtime)
		return []side{S}, nil

	case UnitSwitchover:
		st, err := d.j.Status(ctx, P.Model)
		if err != nil {
			return nil, err
		}
		_, primary, err := scenario.Primary(ctx, d.clusters[P.Model])
		if err != nil {
			return nil, err
		}
		var candidates []string
		for _, u := range sortedUnits(d.clusters[P.Model]) {
			if u != primary && u != st.Leader(P.App) {
				candidates = append(candidates, u)
			}
		}
		if len(candidates) == 0 {
			return nil, fmt.Errorf("no replica of %s other than the leader to promote", P.App)
		}
		target := candidates[int(step.Pick)%len(candidates)]
		r.Detail = fmt.Sprintf("%s → %s", primary, target)
		if err := d.action(ctx, P.Model, target, "promote-to-primary", map[string]any{"scope": "unit"}); err != nil {
			return nil, err
		}
		return []side{P}, nil

	case SetPassword:
		user := systemUsers[int(step.Pick)%len(systemUsers)]
		r.Detail = "user " + user + " on " + P.App
		if err := d.action(ctx, P.Model, P.App+"/leader", "set-password", map[string]any{"username": user}); err != nil {
			return nil, err
		}
		return []side{P}, nil

	case ControllerKill:
		r.Detail = fmt.Sprintf("down for %v", step.Downtime)
		if err := d.j.KillController(ctx); err != nil {
			return nil, err
		}
		if err := sleep(ctx, step.Downtime); err != nil {
			return nil, err
		}
		if err := d.j.RestartController(ctx); err != nil {
			return nil, err
		}
		return []side{P}, nil

	case Detach:
		return d.detach(ctx, n, r)
	}
	return nil, fmt.Errorf("unknown fault %v", step.Fault)
}

// detach removes the relation, waits for the standby cluster to be standalone, integrates
// again and runs create-replication on the cluster that stayed writable, which keeps its
// data and re-seeds the other (on the standalone side the action is refused while the other
// side is writable). When lisbon is primary the drill also stops writing and lets rome catch
// up before detaching, as it did when rome's data won: it costs a pause, not a check.
func (d *Drill) detach(ctx context.Context, n int, r *Result) ([]side, error) {
	P, S := d.primary, d.standby
	bctx, cancel := context.WithTimeout(ctx, d.prof.Converge)
	defer cancel()
	if P == d.lisbon {
		// Resumed by round once converged. Lisbon keeps its data (create-replication runs
		// there), so this only keeps the round comparable with the rome-primary one.
		d.w.Pause()
		d.paused = true
		if err := d.caughtUp(bctx, S); err != nil {
			return nil, err
		}
	}
	offer, local := d.seed.Offer, d.lisbon.App+":replication"
	if err := d.j.RemoveRelation(bctx, d.lisbon.Model, offer, local); err != nil {
		return nil, err
	}
	if err := scenario.WaitFor(bctx, d.j, S.Model, S.App+" standalone", func(st *scenario.Status) error {
		return scenario.UnitBlocked(st, S.App, standaloneMsg)
	}); err != nil {
		return nil, err
	}
	if _, _, err := scenario.Primary(bctx, d.clusters[P.Model]); err != nil {
		r.violate("the primary cluster stays writable when detached", err)
	}
	if err := retry(bctx, func() error { return d.j.Integrate(bctx, d.lisbon.Model, offer, local) }); err != nil {
		return nil, err
	}
	attempts := 0
	err := retry(bctx, func() error {
		attempts++
		return d.action(bctx, P.Model, P.App+"/leader", "create-replication", map[string]any{"name": fmt.Sprintf("chaos-%d", n)})
	})
	if err != nil {
		return nil, err
	}
	r.Detail = fmt.Sprintf("%s primary; create-replication on %s after %d attempt(s)", P.App, P.App, attempts)
	return []side{P}, nil
}

// caughtUp waits until the standby cluster's head has every acknowledged insert.
func (d *Drill) caughtUp(ctx context.Context, S side) error {
	ids := d.liveIDs()
	for {
		head, err := d.unitWithMessage(ctx, S, "Standby", 0)
		var missing []int64
		if err == nil {
			c := d.clusters[S.Model]
			missing, err = scenario.MissingIDs(ctx, c.Units[head], c.Password, ids)
		}
		if err == nil && len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s has not caught up (%d acknowledged inserts missing, last error %v): %w", S.App, len(missing), err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// converge waits until one of accept is the primary cluster (roles settled, every unit
// active), the units accept the passwords their leaders give, the prober sees every unit
// with exactly one writable, in that cluster, and a row written there reaches every unit.
func (d *Drill) converge(ctx context.Context, n int, accept []side, r *Result) error {
	ctx, cancel := context.WithTimeout(ctx, d.prof.Converge)
	defer cancel()
	silent := map[string]bool{}
	var last error
	var chosen *side
	for chosen == nil {
		st := map[string]*scenario.Status{}
		for _, c := range []side{d.rome, d.lisbon} {
			s, err := d.j.Status(ctx, c.Model)
			if err != nil {
				last = err
				continue
			}
			st[c.Model] = s
			for name, u := range s.Applications[c.App].Units {
				if u.WorkloadStatus.Current != "active" && strings.TrimSpace(u.WorkloadStatus.Message) == "" && !silent[name] {
					silent[name] = true
					r.violate("every unit active or in a status that says why", fmt.Errorf("%s is %s with no message", name, u.WorkloadStatus.Current))
				}
			}
		}
		if len(st) == 2 {
			var reasons []string
			for _, P := range accept {
				S := d.other(P)
				err := errors.Join(rolesSettled(P, "Primary", "Primary")(st[P.Model]), rolesSettled(S, "Standby", "Standby")(st[S.Model]))
				if err == nil {
					chosen = &P
					break
				}
				reasons = append(reasons, fmt.Sprintf("%s primary: %v", P.App, err))
			}
			last = errors.New(strings.Join(reasons, " | "))
		}
		if chosen != nil {
			break
		}
		if err := sleep(ctx, scenario.PollInterval); err != nil {
			return fmt.Errorf("roles not settled: %v", last)
		}
	}
	d.primary, d.standby = *chosen, d.other(*chosen)
	// Passwords (set-password) and addresses are read again; every unit of both clusters
	// must accept the primary cluster's operator password (scenario.PairDR).
	for {
		err := d.reload(ctx)
		if err == nil {
			_, unreachable := scenario.Writable(ctx, d.clusters[d.rome.Model], d.clusters[d.lisbon.Model])
			if len(unreachable) > 0 {
				err = fmt.Errorf("units do not accept the passwords their leaders give: %v", unreachable)
			}
		}
		if err == nil {
			break
		}
		if serr := sleep(ctx, time.Second); serr != nil {
			return err
		}
	}
	if err := d.p.WaitHealthy(ctx); err != nil {
		return err
	}
	c, unit, err := scenario.Primary(ctx, d.clusters[d.rome.Model], d.clusters[d.lisbon.Model])
	if err != nil {
		return err
	}
	if c.Model != d.primary.Model {
		return fmt.Errorf("the writable unit is %s/%s, but %s reports Primary", c.Model, unit, d.primary.App)
	}
	tag := fmt.Sprintf("chaos-round-%d", n)
	if _, err := scenario.InsertRows(ctx, c.Units[unit], c.Password, tag, 1); err != nil {
		return err
	}
	for _, cl := range d.clusters {
		if err := scenario.WaitRows(ctx, cl, tag, 1); err != nil {
			return err
		}
	}
	return nil
}

// rolesSettled: every unit of the side active, the application status appMsg, one unit with
// headMsg and the others Replica; a primary cluster keeps its primary off the leader.
func rolesSettled(c side, appMsg, headMsg string) scenario.Condition {
	conds := []scenario.Condition{scenario.AppSettled(c.App, clusterSize, appMsg),
		scenario.UnitMessages(c.App, map[string]int{headMsg: 1, "Replica": clusterSize - 1})}
	if headMsg == "Primary" {
		conds = append(conds, scenario.PrimaryOffLeader(c.App))
	}
	return scenario.All(conds...)
}

func (d *Drill) other(c side) side {
	if c == d.rome {
		return d.lisbon
	}
	return d.rome
}

// reload reads both clusters (units, addresses, passwords) again and hands them to the
// writer and the prober.
func (d *Drill) reload(ctx context.Context) error {
	rome, err := scenario.LoadCluster(ctx, d.j, d.rome.Model, d.rome.App)
	if err != nil {
		return err
	}
	lisbon, err := scenario.LoadCluster(ctx, d.j, d.lisbon.Model, d.lisbon.App)
	if err != nil {
		return err
	}
	scenario.PairDR(rome, lisbon)
	d.clusters = map[string]*scenario.Cluster{d.rome.Model: rome, d.lisbon.Model: lisbon}
	d.w.SetClusters(rome, lisbon)
	d.p.SetClusters(rome, lisbon)
	return nil
}

// checkLoss looks up every acknowledged insert on the primary. A planned round may lose
// none; a forced one only those whose commit the standby had not received.
func (d *Drill) checkLoss(ctx context.Context, step Step, rpo *forcedRPO, r *Result) {
	acks := d.w.Acks()
	byID := make(map[int64]ack, len(acks))
	for _, a := range acks {
		byID[a.ID] = a
	}
	c := d.clusters[d.primary.Model]
	_, unit, err := scenario.Primary(ctx, c)
	if err != nil {
		r.violate("losses measured", err)
		return
	}
	missing, err := scenario.MissingIDs(ctx, c.Units[unit], c.Password, d.liveIDs())
	if err != nil {
		r.violate("losses measured", err)
		return
	}
	r.Lost = len(missing)
	if len(missing) == 0 {
		return
	}
	if step.Fault.Planned() || rpo == nil {
		r.violate("0 acknowledged writes lost in a planned round", fmt.Errorf("%d of %d acknowledged inserts missing on %s/%s: %s",
			len(missing), len(acks), c.Model, unit, idList(missing)))
		return
	}
	var beyond []string
	for _, id := range missing {
		a := byID[id]
		if a.LSN != 0 && a.LSN <= rpo.Received {
			beyond = append(beyond, fmt.Sprintf("%d (committed by %s on %s)", id, a.LSN, a.Model))
		}
		d.lost[id] = true
	}
	if len(beyond) > 0 {
		r.violate("a forced round loses no more than the promotion's RPO", fmt.Errorf("%d acknowledged inserts the standby had received (up to %s) are missing: %s",
			len(beyond), rpo.Received, strings.Join(beyond[:min(len(beyond), 10)], ", ")))
	}
}

// liveIDs are the acknowledged ids not known to be lost by a forced round.
func (d *Drill) liveIDs() []int64 {
	var ids []int64
	for _, a := range d.w.Acks() {
		if !d.lost[a.ID] {
			ids = append(ids, a.ID)
		}
	}
	return ids
}

// action runs an action and turns anything but completed into an error.
func (d *Drill) action(ctx context.Context, model, unit, name string, params map[string]any) error {
	res, err := d.j.RunAction(ctx, model, unit, name, params)
	if err != nil {
		return fmt.Errorf("%s on %s: %w", name, unit, err)
	}
	if res.Status != "completed" {
		return fmt.Errorf("%s on %s: %s: %s", name, unit, res.Status, res.Message)
	}
	return nil
}

// unitWithMessage picks the unit of c whose workload message is msg (the seed's pick among
// several, by name).
func (d *Drill) unitWithMessage(ctx context.Context, c side, msg string, pick uint32) (string, error) {
	st, err := d.j.Status(ctx, c.Model)
	if err != nil {
		return "", err
	}
	var found []string
	for name, u := range st.Applications[c.App].Units {
		if u.WorkloadStatus.Message == msg {
			found = append(found, name)
		}
	}
	if len(found) == 0 {
		return "", fmt.Errorf("no unit of %s reports %q", c.App, msg)
	}
	sort.Strings(found)
	return found[int(pick)%len(found)], nil
}

// headReceived reads how far the standby head of c has received WAL.
func (d *Drill) headReceived(ctx context.Context, c side, pick uint32) (postgres.LSN, error) {
	head, err := d.unitWithMessage(ctx, c, "Standby", pick)
	if err != nil {
		return 0, err
	}
	cl := d.clusters[c.Model]
	conn, err := scenario.Connect(ctx, cl.Units[head], cl.Password)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var pos *string
	if err := conn.QueryRow(ctx, "SELECT pg_last_wal_receive_lsn()::text").Scan(&pos); err != nil {
		return 0, fmt.Errorf("receive position of %s: %w", head, err)
	}
	if pos == nil {
		return 0, fmt.Errorf("%s has received no WAL by streaming", head)
	}
	return postgres.ParseLSN(*pos)
}

// waitWritable waits until a unit of c accepts writes.
func (d *Drill) waitWritable(ctx context.Context, c side) error {
	ctx, cancel := context.WithTimeout(ctx, d.prof.Converge)
	defer cancel()
	for {
		_, _, err := scenario.Primary(ctx, d.clusters[c.Model])
		if err == nil {
			return nil
		}
		if serr := sleep(ctx, 50*time.Millisecond); serr != nil {
			return fmt.Errorf("%s never writable: %w", c.App, err)
		}
	}
}

func sortedUnits(c *scenario.Cluster) []string {
	units := make([]string, 0, len(c.Units))
	for u := range c.Units {
		units = append(units, u)
	}
	slices.Sort(units)
	return units
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// retry calls f every two seconds until it succeeds or ctx ends.
func retry(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		if serr := sleep(ctx, 2*time.Second); serr != nil {
			return fmt.Errorf("%w (gave up: %w)", err, serr)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func idList(ids []int64) string {
	parts := make([]string, 0, 10)
	for _, id := range ids[:min(len(ids), 10)] {
		parts = append(parts, fmt.Sprint(id))
	}
	if len(ids) > 10 {
		parts = append(parts, "…")
	}
	return strings.Join(parts, ", ")
}
