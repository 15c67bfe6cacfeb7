// Just enough JSON for the native runner: strings written the way Node's JSON.stringify writes
// the strings Node made from argv and the environment, and replies read back as JSON.parse
// would accept them (their top-level members; nested values are checked, then skipped).
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
/** Whether all of `text`, NULs included, is valid UTF-8 (a frame's payload must be). */
bool IsValidUtf8(const std::string& text);

/** A top-level member: strings decoded (escapes included), other scalars as their token. */
struct JsonMember {
  enum Kind { kString, kNumber, kBoolean, kNull, kNested } kind;
  std::string text;  // empty for kNested
};
using FlatObject = std::map<std::string, JsonMember>;

/** What `json` is: an object (its members in *out, the last of a repeated name), another value, or not JSON. */
enum class JsonShape { kObject, kOtherValue, kInvalid };
JsonShape ParseFlatObject(const std::string& json, FlatObject* out);

/** The member's text if it is there and of `kind`, else "". */
std::string MemberText(const FlatObject& object, const char* name, JsonMember::Kind kind);

}  // namespace runner
