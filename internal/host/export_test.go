package host

// NewDirectContainer is a Container whose commands run on on itself, as if
// on were the container: container.sh is tested on this machine's disk.
func NewDirectContainer(on Host) *Container {
	return &Container{On: on, Engine: EnginePodman, Name: "direct", direct: true}
}
