/// Runs `change` on a value in place and returns what it returns. Passed a dictionary entry
/// (`&table[key, default: …]`), the entry is reached through one `_modify` access: one hash
/// lookup, and the value is not copied (through `Optional` or a read-then-write it was, and a
/// copy of a value holding arrays made each later append copy them).
@inline(__always)
func inPlace<T, R>(_ value: inout T, _ change: (inout T) -> R) -> R { change(&value) }
