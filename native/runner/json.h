// Just enough JSON for the runner: strings written the way Node's JSON.stringify writes the
// strings Node made from argv and the environment, and the daemon's flat replies read back.
#pragma once
#include <map>
#include <string>

namespace runner {

/**
 * Appends `text` as a JSON string literal. Bytes that are not UTF-8 become U+FFFD exactly as
 * V8 decodes argv and the environment (one U+FFFD per maximal invalid subpart, as the WHATWG
 * Encoding standard says), so the daemon gets what the Node CLI would have sent.
 */
void AppendJsonString(std::string& out, const char* text);

/** Whether `text` is valid UTF-8 (Node leaves out environment variables whose name is not). */
bool IsValidUtf8(const char* text);

/**
 * The top-level members of a JSON object: strings decoded (escapes included), numbers, booleans
 * and null as their token; nested objects and arrays are skipped. False if `json` is not an
 * object.
 */
bool ParseFlatObject(const std::string& json, std::map<std::string, std::string>& out);

}  // namespace runner
