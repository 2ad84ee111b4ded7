package deploy

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	op   string // upper case: FROM, RUN, ...
	args string
}

// parseDockerfile reads the instructions of a Dockerfile (no engine here
// to build it: this checks what can be checked without one).
func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	start, n := 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		op, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{start, strings.ToUpper(op), strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("%s: a continued line runs off the end", path)
	}
	return out
}

var knownOps = map[string]bool{"FROM": true, "RUN": true, "COPY": true, "ARG": true, "ENV": true, "LABEL": true,
	"USER": true, "WORKDIR": true, "ENTRYPOINT": true, "CMD": true, "HEALTHCHECK": true, "VOLUME": true, "EXPOSE": true}

// TestDockerfile: pinned bases, every final stage non-root with a
// healthcheck and OCI labels, and the binary built as packaging/build.sh
// builds it.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, "Dockerfile")
	args := map[string]string{}
	type stage struct {
		name         string
		user, health bool
		labels       map[string]bool
	}
	var stages []*stage
	var built bool
	for _, in := range ins {
		if !knownOps[in.op] {
			t.Errorf("Dockerfile:%d: unknown instruction %s", in.line, in.op)
		}
		var st *stage
		if len(stages) > 0 {
			st = stages[len(stages)-1]
		}
		switch in.op {
		case "ARG":
			if k, v, ok := strings.Cut(in.args, "="); ok && st == nil {
				args[k] = v
			}
		case "FROM":
			image, name, _ := strings.Cut(in.args, " AS ")
			if m := regexp.MustCompile(`^\$\{(\w+)\}$`).FindStringSubmatch(image); m != nil {
				image = args[m[1]]
			}
			if !regexp.MustCompile(`^[a-z0-9./-]+:[0-9]+\.[0-9]+[A-Za-z0-9.-]*(@sha256:[0-9a-f]{64})?$|^gcr\.io/distroless/static-debian1[0-9]:nonroot(@sha256:[0-9a-f]{64})?$`).MatchString(image) {
				t.Errorf("Dockerfile:%d: base %q is not pinned to a version", in.line, image)
			}
			stages = append(stages, &stage{name: strings.TrimSpace(name), labels: map[string]bool{}})
		case "USER":
			if u := strings.Split(in.args, ":")[0]; u != "0" && u != "root" {
				st.user = true
			}
		case "HEALTHCHECK":
			st.health = strings.Contains(in.args, `"stockade", "ping"`) || strings.Contains(in.args, `stockade", "ping"`)
		case "LABEL":
			for _, m := range regexp.MustCompile(`(org\.opencontainers\.image\.\w+)=`).FindAllStringSubmatch(in.args, -1) {
				st.labels[m[1]] = true
			}
		case "RUN":
			if strings.Contains(in.args, "go build") {
				built = true
				for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}", "./cmd/stockade"} {
					if !strings.Contains(in.args, want) {
						t.Errorf("Dockerfile:%d: the build lacks %s (packaging/build.sh uses it)", in.line, want)
					}
				}
			}
		}
	}
	if !built {
		t.Error("no go build in the Dockerfile")
	}
	finals := map[string]bool{"static": true, "journal": true}
	for _, st := range stages {
		if !finals[st.name] {
			continue
		}
		delete(finals, st.name)
		if !st.user {
			t.Errorf("stage %s runs as root", st.name)
		}
		if !st.health {
			t.Errorf("stage %s has no HEALTHCHECK running stockade ping", st.name)
		}
		for _, l := range []string{"title", "source", "licenses", "version", "revision", "created"} {
			if !st.labels["org.opencontainers.image."+l] {
				t.Errorf("stage %s lacks the label org.opencontainers.image.%s", st.name, l)
			}
		}
	}
	for name := range finals {
		t.Errorf("no stage %s", name)
	}
	if last := stages[len(stages)-1].name; last != "static" {
		t.Errorf("the default (last) stage is %s, want static", last)
	}
}

// TestDockerignore: the build context leaves out VCS data, build output
// and key material.
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		have[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{".git", "dist", "**/*.nk", "**/*.creds", "deploy/fleet/keys"} {
		if !have[want] {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
}
