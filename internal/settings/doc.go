// Package settings is the one rule for where a command's settings come
// from. A program declares its settings once, in a Table: for each, the
// flag, the environment variable, the ship.yml key, the type, the default,
// the help text, which commands take it and whether it is a secret. From
// that table the package
//
//   - adds the flags to a command (AddFlags), with the default and the
//     variable in the help text;
//   - reads the environment (EnvLayer) and a YAML mapping (YAMLLayer), with
//     messages for people: "keeep: did you mean keep?", "keep: want a
//     number, got "three"";
//   - settles every value by one precedence (Resolve): flag, then
//     environment, then the file's target section, then the file's top
//     level, then the default, and remembers where each value came from.
//
// ship (internal/shipcmd) and the receiver (internal/receivercmd) both use
// it, so both parse a duration, a list or a number the same way and both
// say the same thing about a bad one.
package settings
