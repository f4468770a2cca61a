package host

// NewDirectContainer is a Container whose commands run on on itself, as if
// on were the container: container.sh is tested on this machine's disk.
// Without session, each file operation has an exec of its own.
func NewDirectContainer(on Host, session bool) *Container {
	return &Container{On: on, Engine: EnginePodman, Name: "direct", direct: true, sessBroke: !session}
}

// SessionBroke reports whether c gave up its file session.
func SessionBroke(c *Container) bool { return c.sessBroke }

// NewContainerExecEach is a Container on on whose file operations each
// have an exec of their own, for comparing with the session.
func NewContainerExecEach(on Host, engine, name string) *Container {
	return &Container{On: on, Engine: engine, Name: name, sessBroke: true}
}
