// Handing a command line over to the Node CLI by exec: it does whatever the runner does not
// (other commands, usage errors, no daemon yet, a runtime directory to refuse, another daemon
// version, python run directly), so behaviour is the same either way.
#pragma once
#include <string>

namespace runner {

/** The Node CLI's entry, relative to the package's root. */
extern const char kCliEntry[];

/**
 * Signals that came meanwhile act first (signals.h); then exec node with the CLI and our own
 * arguments (argv[1..]). Which node: the one that built the runner (npm's node at install time,
 * recorded by binding.gyp), else `node` on PATH. Never returns: exit status 125 if no node runs.
 * `reason` is said on fd 2 under PYNWHEEL_DEBUG=1.
 */
[[noreturn]] void HandToNode(char** argv, const char* reason);

/** The package's root (this program's <package>/build/Release/pynwheel-runner, or its copy <package>/bin/pynwheel); "" if unknown. */
std::string PackageRoot();

/** A variable set for the Node CLI just before the exec (not in this process's request): the caller's signals and fds (caller.h), a masquerade's argv0 (masquerade.h); two at most. */
void SetForNode(const char* name, const std::string& value);

}  // namespace runner
