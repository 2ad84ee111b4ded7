package daemon

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/control"
)

// TestReloadAppliesPacks: the packs: key is applied at start and at
// reload: with sshd disabled five failures ban nobody; a reload that
// drops the key turns sshd on; a reload naming a rule no pack has is
// refused at the key's file:line:col and the running selection stays.
func TestReloadAppliesPacks(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "stockade.yaml")
	write := func(packs string) {
		os.WriteFile(path, []byte("state_dir: "+filepath.Join(h.dir, "state")+"\nsocket: "+h.socket+"\norigin: test\nrules: ["+h.rules+"]\n"+
			"sources:\n  - files: ["+h.log+"]\n    start: beginning\nsinks:\n  - jsonl: "+h.out+"\n"+packs), 0o644)
	}
	write("packs: {disable: [sshd]}\n")
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	l := startLive(t, cfg, nil)
	h.fail("203.0.113.90", 5)
	waitFor(t, 10*time.Second, "the five lines judged with sshd disabled", func() bool { return l.metric("stockade_events_total") >= 5 })

	write("")
	ctl(t, h, control.Request{Op: "reload"})
	h.fail("203.0.113.91", 5)
	waitFor(t, 10*time.Second, "sshd's ban after the reload turned it on", func() bool { return h.bans("203.0.113.91") == 1 })
	// .90's lines were judged before the reload and came first in the
	// file: a ban of them would be there by now.
	if n := h.bans("203.0.113.90"); n != 0 {
		t.Fatalf("203.0.113.90 banned %d times while sshd was disabled", n)
	}

	write("packs:\n  disable: [shd]\n")
	ctlErr(t, h, control.Request{Op: "reload"}, path+`:11:13: packs.disable: no pack, rule or allowlist "shd" in the packs loaded; did you mean sshd?`)
	h.fail("203.0.113.92", 5)
	waitFor(t, 10*time.Second, "a ban under the running selection", func() bool { return h.bans("203.0.113.92") == 1 })
}
