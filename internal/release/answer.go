package release

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// AnswerLine is an answer as written: one line, the word, a space, the
// JSON.
func AnswerLine(word string, a Answer) (string, error) {
	data, err := json.Marshal(a)
	if err != nil {
		return "", err
	}
	return word + " " + string(data) + "\n", nil
}

// WriteAnswer replaces the answer to a request, atomically (AnswerLine).
func WriteAnswer(fsys FS, l Layout, word string, a Answer) error {
	line, err := AnswerLine(word, a)
	if err != nil {
		return err
	}
	return WriteAnswerLine(fsys, l, a.ID, line)
}

// WriteAnswerLine writes an answer already made into its line.
func WriteAnswerLine(fsys FS, l Layout, id, line string) error {
	if err := fsys.MkdirAll(l.Answers()); err != nil {
		return err
	}
	return fsys.WriteFile(l.Answer(id), []byte(line), 0o644)
}

// ReadAnswer reads the answer to request id; word is "" when there is none.
func ReadAnswer(fsys FS, l Layout, id string) (word string, a *Answer, err error) {
	data, err := fsys.ReadFile(l.Answer(id))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	word, js, _ := strings.Cut(strings.TrimSpace(string(data)), " ")
	a = new(Answer)
	if err := json.Unmarshal([]byte(js), a); err != nil {
		return word, nil, fmt.Errorf("decode %s: %w", l.Answer(id), err)
	}
	return word, a, nil
}
