package settings

import (
	"errors"
	"fmt"
)

// EnvLayer reads the variables of t's settings from getenv. An empty
// variable is not set. A value that does not parse is an error naming the
// variable (the value too, unless the setting is a secret).
func (t *Table) EnvLayer(getenv func(string) string) (Layer, error) {
	l := newLayer(Env)
	var errs []error
	for _, s := range t.rows {
		if s.Env == "" {
			continue
		}
		text := getenv(s.Env)
		if text == "" {
			continue
		}
		v, err := s.Kind.parse(text)
		if err != nil {
			errs = append(errs, envError(s, text, err))
			continue
		}
		l.set(s, v, s.Env, 0)
	}
	return l, errors.Join(errs...)
}

func envError(s *Setting, text string, err error) error {
	want := s.Kind.want()
	var ve *ValueError
	if errors.As(err, &ve) {
		want = ve.Want
	}
	if s.Secret {
		return fmt.Errorf("%s: want %s", s.Env, want)
	}
	return fmt.Errorf("%s=%q: want %s", s.Env, text, want)
}
