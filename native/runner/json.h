// Just enough JSON for the runner: strings written the way Node's JSON.stringify writes them
// (invalid UTF-8 becomes U+FFFD, as Node decodes argv and the environment), and flat replies
// from the daemon read back.
#pragma once
#include <string>

namespace runner {

/** Appends `text` as a JSON string literal. */
void AppendJsonString(std::string& out, const char* text);

/** A field of a flat JSON object: a string's contents or a number/bool token; "" if absent. */
std::string JsonField(const std::string& object, const char* name);

}  // namespace runner
