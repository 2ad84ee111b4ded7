package daemon

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	nft "github.com/google/nftables"
	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/internal/netlab"
	"github.com/vishvananda/netns"
)

// TestDaemonNFTablesRestart runs `stockade run` with the nftables sink in a
// network namespace of the test's own: a decided ban becomes a kernel
// element with the ban's timeout; after kill -9 the kernel still holds it;
// after the set is flushed (a reboot, an admin) a restart puts it back from
// the ledger; an unban removes it.
func TestDaemonNFTablesRestart(t *testing.T) {
	if os.Getenv("STOCKADE_DAEMON_CHILD") != "" {
		t.Skip("child")
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Skipf("skipping: needs iproute2 to create a network namespace: %v", err)
	}
	name := fmt.Sprintf("stkd%d", os.Getpid())
	if out, err := exec.Command(ip, "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("skipping: creating a network namespace needs CAP_SYS_ADMIN and nftables CAP_NET_ADMIN (run as root; CI does): %s", strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { exec.Command(ip, "netns", "del", name).Run() })
	fd, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	elements := func() map[netip.Addr]time.Duration { return kernelBans(t, int(fd)) }

	h := newHarness(t)
	cfgPath := filepath.Join(h.dir, "stockade.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("state_dir: %s\nsocket: %s\norigin: test\nrules: [%s]\nsources:\n  - files: [%s]\nsinks:\n  - jsonl: %s\n  - nftables: {}\n",
		filepath.Join(h.dir, "state"), h.socket, h.rules, h.log, h.out)), 0o644)
	start := func() *exec.Cmd {
		cmd := startChild(t, cfgPath, ip, "netns", "exec", name)
		h.waitFor("the daemon in its namespace", func() bool { _, err := control.NewClient(h.socket).Do(control.Request{Op: "ping"}); return err == nil })
		return cmd
	}
	attacker := netip.MustParseAddr("203.0.113.77")

	cmd := start()
	time.Sleep(300 * time.Millisecond) // the tailer has the file open at its end
	h.fail(attacker.String(), 5)
	h.waitFor("the element in the kernel", func() bool { _, ok := elements()[attacker]; return ok })
	if left := elements()[attacker]; left < 590*time.Second || left > 600*time.Second {
		t.Errorf("element timeout %v, want the ban's 10 minutes", left)
	}

	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if _, ok := elements()[attacker]; !ok {
		t.Fatal("the ban left the kernel when stockade died")
	}
	// Flush the set behind stockade's back (a reboot, an admin's mistake).
	c, _ := nft.New(nft.WithNetNSFd(int(fd)))
	c.FlushSet(&nft.Set{Table: &nft.Table{Name: "stockade", Family: nft.TableFamilyINet}, Name: "banned4"})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(elements()) != 0 {
		t.Fatal("flush did not empty the set")
	}
	cmd = start()
	h.waitFor("the restored element", func() bool { _, ok := elements()[attacker]; return ok })
	if n := h.bans(attacker.String()); n != 1 {
		t.Errorf("the restored ban was broadcast again: %d decisions", n)
	}
	if _, err := control.NewClient(h.socket).Do(control.Request{Op: "unban", Target: attacker.String()}); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the element removed", func() bool { _, ok := elements()[attacker]; return !ok })
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
}

func nftConn(ns *netlab.NS) (*nft.Conn, error) { return nft.New(nft.WithNetNSFd(int(ns.Fd))) }

func nftTable() *nft.Table { return &nft.Table{Name: "stockade", Family: nft.TableFamilyINet} }
