// Package fuzzseed gathers log lines for fuzz targets' seed corpora: the
// repository's testdata and the shared corpus (read in place, never
// copied). Only tests import it.
package fuzzseed

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"

	"github.com/stockade-ids/stockade/internal/testcorpus"
)

// CorpusLogs are log files of the shared corpus, by the format they hold.
var CorpusLogs = []string{
	"elastic__beats/filebeat/module/system/auth/test/test.log",
	"elastic__beats/filebeat/module/system/auth/test/timestamp.log",
	"elastic__beats/filebeat/module/system/auth/test/secure-rhel7.log",
	"elastic__beats/filebeat/module/nginx/access/test/access.log",
	"elastic__beats/filebeat/module/nginx/access/test/test-with-host.log",
	"fail2ban__fail2ban/fail2ban/tests/files/logs/sshd",
	"fail2ban__fail2ban/fail2ban/tests/files/logs/nginx-http-auth",
	"fail2ban__fail2ban/fail2ban/tests/files/logs/apache-auth",
	"fail2ban__fail2ban/fail2ban/tests/files/logs/recidive",
	"OISF__suricata-verify/tests/http2-files/expected/fast.log",
	"OISF__suricata-verify/tests/output-eve-fileinfo/expected/eve.json",
	"rhaist__surevego/testdata/eve.json",
	"rhaist__surevego/testdata/eve_broken.json",
}

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Files are the repository's sample logs (testdata/replay and
// testdata/explain) and those corpus logs that exist, read whole.
func Files() [][]byte {
	var out [][]byte
	for _, dir := range []string{"replay", "explain"} {
		names, _ := filepath.Glob(filepath.Join(Root(), "testdata", dir, "*"))
		for _, n := range names {
			if ext := filepath.Ext(n); ext == ".golden" || ext == ".yaml" {
				continue
			}
			if b, err := os.ReadFile(n); err == nil {
				out = append(out, b)
			}
		}
	}
	if root := testcorpus.Root(); root != "" {
		for _, rel := range CorpusLogs {
			if b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel))); err == nil {
				out = append(out, b)
			}
		}
	}
	return out
}

// Heads are the first max bytes of each of Files.
func Heads(max int) [][]byte {
	var out [][]byte
	for _, b := range Files() {
		out = append(out, b[:min(len(b), max)])
	}
	return out
}

// Lines are up to perFile lines of each of Files, comments skipped.
func Lines(perFile int) [][]byte {
	var out [][]byte
	for _, b := range Files() {
		n := 0
		for line := range bytes.Lines(b) {
			line = bytes.TrimRight(line, "\r\n")
			if len(line) == 0 || line[0] == '#' {
				continue
			}
			if n++; n > perFile {
				break
			}
			out = append(out, line)
		}
	}
	return out
}
