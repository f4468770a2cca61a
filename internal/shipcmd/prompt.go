package shipcmd

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// passphrasePrompt is askPassphrase when ship's input is a terminal, else
// nil: the error then says which variable to set.
func (a *app) passphrasePrompt() func(string) (string, error) {
	if a.tty == nil {
		return nil
	}
	return a.askPassphrase
}

// askPassphrase asks for a key's passphrase on the terminal, without echo.
func (a *app) askPassphrase(key string) (string, error) {
	if a.tty == nil {
		return "", errors.New("no terminal to ask for its passphrase: set SHIP_SSH_PASSPHRASE or load it into ssh-agent")
	}
	fd := int(a.tty.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	fmt.Fprintf(a.stderr, "Passphrase for %s: ", key)
	line, err := bufio.NewReader(a.tty).ReadString('\n')
	fmt.Fprintln(a.stderr)
	if err != nil && line == "" {
		return "", fmt.Errorf("read the passphrase: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// terminalInput is os.Stdin when it is a terminal (and not GitHub Actions).
func terminalInput(getenv func(string) string) *os.File {
	if getenv("GITHUB_ACTIONS") == "true" || getenv("CI") != "" {
		return nil
	}
	if _, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS); err != nil {
		return nil
	}
	return os.Stdin
}
