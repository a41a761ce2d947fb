package charm

import "time"

// WakeAt asks for a hook on this unit at `at` under the timer name. Stub: replaced by
// charm/timers.go.
func (s *State) WakeAt(name string, at time.Time) {}
