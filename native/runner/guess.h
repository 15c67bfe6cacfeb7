// A new script's family, guessed: a script with no route of its own (never run, or edited)
// goes straight to the lane of the zygote whose family its top-level imports name, if the
// daemon published one (lib/daemon/routes.ts publishFamily), instead of through the daemon and
// the base zygote. Only a guess: the spare reads the script itself and declines it unless it
// is its zygote's to run, with all it imports imported (python/_pynwheel/newscript.py).
#pragma once
#include <string>
#include <vector>

namespace runner {

/**
 * The top-level package names a script's source imports at its top level (`import a.b, c`,
 * `from a import b`; also in blocks headed at column 0 by try, except, else, finally, if,
 * elif, with), each once, in order. A scan of lines, not a parse: strings and continued lines
 * may mislead it, which costs only the guess.
 */
std::vector<std::string> TopLevelImports(const std::string& source);

/**
 * The family route's name for these packages (those among `imports` that a zygote of this
 * python has in its family: a `p-` mark in <runtime>/r), as lib/shared/route-name.ts's
 * familyRouteName; "" if the script cannot be read.
 */
std::string GuessFamilyRoute(const std::string& runtime_dir, const std::string& python, const std::string& script,
                             long session, std::string* family_out);

/** lib/shared/route-name.ts's familyRouteName and packageRouteName (test/vectors/route-names.json pins them). */
std::string FamilyRouteName(const std::string& python, const std::vector<std::string>& family, long session = 0);
std::string PackageRouteName(const std::string& python, const std::string& name);

}  // namespace runner
