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

// stage is what TestDockerfile checks of one FROM ... AS name.
type stage struct {
	name         string
	user, health bool
	labels       map[string]bool
}

var (
	argRef = regexp.MustCompile(`^\$\{(\w+)\}$`)
	pinned = regexp.MustCompile(`^[a-z0-9./-]+:[0-9]+\.[0-9]+[A-Za-z0-9.-]*(@sha256:[0-9a-f]{64})?$|^gcr\.io/distroless/static-debian1[0-9]:nonroot(@sha256:[0-9a-f]{64})?$`)
	ociKey = regexp.MustCompile(`(org\.opencontainers\.image\.\w+)=`)
)

// TestDockerfile: pinned bases, every final stage non-root with a
// healthcheck and OCI labels, and the binary built as packaging/build.sh
// builds it.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, "Dockerfile")
	stages := dockerStages(t, ins)
	checkBuild(t, ins)
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

// dockerStages reads the stages, checking that every base is pinned.
func dockerStages(t *testing.T, ins []instruction) []*stage {
	t.Helper()
	args := map[string]string{}
	var stages []*stage
	for _, in := range ins {
		if !knownOps[in.op] {
			t.Errorf("Dockerfile:%d: unknown instruction %s", in.line, in.op)
		}
		if in.op == "FROM" {
			image, name, _ := strings.Cut(in.args, " AS ")
			if m := argRef.FindStringSubmatch(image); m != nil {
				image = args[m[1]]
			}
			if !pinned.MatchString(image) {
				t.Errorf("Dockerfile:%d: base %q is not pinned to a version", in.line, image)
			}
			stages = append(stages, &stage{name: strings.TrimSpace(name), labels: map[string]bool{}})
			continue
		}
		if len(stages) == 0 {
			if k, v, ok := strings.Cut(in.args, "="); ok && in.op == "ARG" {
				args[k] = v
			}
			continue
		}
		st := stages[len(stages)-1]
		switch in.op {
		case "USER":
			u := strings.Split(in.args, ":")[0]
			st.user = u != "0" && u != "root"
		case "HEALTHCHECK":
			st.health = strings.Contains(in.args, `stockade", "ping"`)
		case "LABEL":
			for _, m := range ociKey.FindAllStringSubmatch(in.args, -1) {
				st.labels[m[1]] = true
			}
		}
	}
	if len(stages) == 0 {
		t.Fatal("no FROM in the Dockerfile")
	}
	return stages
}

// checkBuild: the go build is packaging/build.sh's.
func checkBuild(t *testing.T, ins []instruction) {
	t.Helper()
	for _, in := range ins {
		if in.op != "RUN" || !strings.Contains(in.args, "go build") {
			continue
		}
		for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}", "./cmd/stockade"} {
			if !strings.Contains(in.args, want) {
				t.Errorf("Dockerfile:%d: the build lacks %s (packaging/build.sh uses it)", in.line, want)
			}
		}
		return
	}
	t.Error("no go build in the Dockerfile")
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
