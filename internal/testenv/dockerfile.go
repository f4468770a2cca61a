package testenv

import (
	"fmt"
	"strings"
)

// Dockerfile is a Dockerfile read into stages of instructions, enough to
// check what the image relies on and to name its base images.
type Dockerfile struct {
	Args   map[string]string // ARG defaults before the first FROM
	Stages []*DockerStage
}

// DockerStage is one FROM and the instructions after it.
type DockerStage struct {
	From, Name string
	Ins        []DockerInstruction
}

// DockerInstruction is one instruction, continued lines joined.
type DockerInstruction struct {
	Cmd  string // upper case: FROM, RUN, …
	Args string
	Line int
}

// ParseDockerfile splits text into stages of instructions, joining
// continued lines and dropping comments.
func ParseDockerfile(text string) (*Dockerfile, error) {
	d := &Dockerfile{Args: map[string]string{}}
	var errs []string
	var cur strings.Builder
	start := 0
	flush := func() {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s == "" {
			return
		}
		cmd, rest, _ := strings.Cut(s, " ")
		in := DockerInstruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(rest), Line: start}
		switch {
		case in.Cmd == "FROM":
			f := strings.Fields(in.Args)
			st := &DockerStage{From: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.Name = f[2]
			}
			d.Stages = append(d.Stages, st)
		case len(d.Stages) == 0 && in.Cmd == "ARG":
			name, value, _ := strings.Cut(in.Args, "=")
			d.Args[name] = value
		case len(d.Stages) == 0:
			errs = append(errs, fmt.Sprintf("line %d: %s before the first FROM", in.Line, in.Cmd))
		default:
			st := d.Stages[len(d.Stages)-1]
			st.Ins = append(st.Ins, in)
		}
	}
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	if len(errs) > 0 {
		return d, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return d, nil
}

// Expand replaces ${NAME} with the ARG defaults.
func (d *Dockerfile) Expand(s string) string {
	for k, v := range d.Args {
		s = strings.ReplaceAll(s, "${"+k+"}", v)
	}
	return s
}

// BaseImages lists the images the stages start FROM (ARGs expanded), not
// counting stages that start from an earlier stage.
func (d *Dockerfile) BaseImages() []string {
	var out []string
	named := map[string]bool{}
	for _, st := range d.Stages {
		from := d.Expand(st.From)
		if !named[from] {
			out = append(out, from)
		}
		if st.Name != "" {
			named[st.Name] = true
		}
	}
	return out
}

// All returns the stage's instructions of kind cmd.
func (s *DockerStage) All(cmd string) []DockerInstruction {
	var out []DockerInstruction
	for _, in := range s.Ins {
		if in.Cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}
