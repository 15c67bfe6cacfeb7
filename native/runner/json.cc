#include "json.h"

#include <cstdio>
#include <cstring>

namespace runner {

// Length of the valid UTF-8 sequence at `s`, or 0 if it is not one.
static size_t Utf8Length(const unsigned char* s) {
  if (s[0] < 0x80) return 1;
  size_t n = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
  if (n == 0) return 0;
  for (size_t i = 1; i < n; i++) if ((s[i] & 0xC0) != 0x80) return 0;
  unsigned cp = n == 2 ? (s[0] & 0x1F) : n == 3 ? (s[0] & 0x0F) : (s[0] & 0x07);
  for (size_t i = 1; i < n; i++) cp = (cp << 6) | (s[i] & 0x3F);
  const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;  // overlong, surrogate
  return n;
}

void AppendJsonString(std::string& out, const char* text) {
  const unsigned char* s = reinterpret_cast<const unsigned char*>(text);
  out += '"';
  while (*s) {
    if (*s == '"' || *s == '\\') {
      out += '\\';
      out += static_cast<char>(*s++);
    } else if (*s < 0x20) {
      char buf[8];
      const char* named = *s == '\n' ? "\\n" : *s == '\r' ? "\\r" : *s == '\t' ? "\\t" : *s == '\b' ? "\\b" : *s == '\f' ? "\\f" : nullptr;
      if (named == nullptr) std::snprintf(buf, sizeof buf, "\\u%04x", *s);
      out += named != nullptr ? named : buf;
      s++;
    } else {
      size_t n = Utf8Length(s);
      if (n == 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD, as Node decodes a byte that is not UTF-8
        s++;
      } else {
        out.append(reinterpret_cast<const char*>(s), n);
        s += n;
      }
    }
  }
  out += '"';
}

std::string JsonField(const std::string& object, const char* name) {
  std::string key = std::string("\"") + name + "\":";
  size_t at = object.find(key);
  if (at == std::string::npos) return "";
  size_t i = at + key.size();
  std::string value;
  if (i < object.size() && object[i] == '"') {
    for (i++; i < object.size() && object[i] != '"'; i++) {
      if (object[i] == '\\' && i + 1 < object.size()) {
        char c = object[++i];
        value += c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == 'u' ? '?' : c;
        if (c == 'u') i += 4;
      } else {
        value += object[i];
      }
    }
    return value;
  }
  while (i < object.size() && object[i] != ',' && object[i] != '}') value += object[i++];
  return value;
}

}  // namespace runner
