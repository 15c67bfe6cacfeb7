// JSON for the native runner (see json.h); runs in the runner and its test program.
#include "json.h"

#include <cstdio>
#include <cstdlib>

namespace runner {

/**
 * The UTF-8 sequence at `s`: its length if valid (*valid true), else the length of its maximal
 * subpart, the bytes that one U+FFFD replaces (at least 1; *valid false). A NUL ends the text
 * and is never a continuation byte, so a sequence cut short by it is a maximal subpart too.
 */
static size_t Utf8Sequence(const unsigned char* s, bool* valid) {
  unsigned char c = s[0];
  *valid = true;
  if (c < 0x80) return 1;
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the next byte; narrower after E0, ED, F0, F4
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    *valid = false;  // a continuation byte, C0, C1 or F5-FF: never starts a sequence
    return 1;
  }
  for (size_t n = 1; n <= need; n++) {
    if (s[n] < lo || s[n] > hi) {
      *valid = false;
      return n;
    }
    lo = 0x80;
    hi = 0xBF;
  }
  return need + 1;
}

bool IsValidUtf8(const char* text) {
  const unsigned char* s = reinterpret_cast<const unsigned char*>(text);
  while (*s) {
    bool valid;
    s += Utf8Sequence(s, &valid);
    if (!valid) return false;
  }
  return true;
}

bool IsValidUtf8(const std::string& text) {
  // Utf8Sequence stops at a NUL, which is never a continuation byte: std::string's terminator
  // keeps it inside the buffer, and a NUL within the text is a sequence of its own.
  const unsigned char* s = reinterpret_cast<const unsigned char*>(text.c_str());
  const unsigned char* end = s + text.size();
  while (s < end) {
    bool valid;
    s += Utf8Sequence(s, &valid);
    if (!valid) return false;
  }
  return true;
}

void AppendJsonString(std::string& out, const char* text) {
  const unsigned char* s = reinterpret_cast<const unsigned char*>(text);
  out += '"';
  while (*s) {
    if (*s == '"' || *s == '\\') {
      out += '\\';
      out += static_cast<char>(*s++);
    } else if (*s < 0x20) {
      // JSON.stringify's escapes: the short ones where JSON has them, else \u00xx (lower case).
      const char* named = *s == '\n' ? "\\n" : *s == '\r' ? "\\r" : *s == '\t' ? "\\t" : *s == '\b' ? "\\b" : *s == '\f' ? "\\f" : nullptr;
      char buf[8];
      if (named == nullptr) std::snprintf(buf, sizeof buf, "\\u%04x", *s);
      out += named != nullptr ? named : buf;
      s++;
    } else {
      bool valid;
      size_t n = Utf8Sequence(s, &valid);
      if (valid) {
        out.append(reinterpret_cast<const char*>(s), n);
      } else {
        out += "\xEF\xBF\xBD";  // U+FFFD
      }
      s += n;
    }
  }
  out += '"';
}

// ---------------------------------------------------------------- reading replies

namespace {

void AppendUtf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

/** RFC 8259's grammar, as strict as JSON.parse; nested values deeper than kMaxDepth are refused. */
class Reader {
 public:
  explicit Reader(const std::string& s) : s_(s) {}

  JsonShape Top(FlatObject* out) {
    Space();
    if (Peek() == '{') return Object(out, 0) && Done() ? JsonShape::kObject : JsonShape::kInvalid;
    JsonMember ignored;
    return Value(&ignored, 0) && Done() ? JsonShape::kOtherValue : JsonShape::kInvalid;
  }

 private:
  static const int kMaxDepth = 512;

  char Peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  bool Eat(char c) {
    if (i_ >= s_.size() || s_[i_] != c) return false;
    i_++;
    return true;
  }
  void Space() {
    while (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' || Peek() == '\r') i_++;
  }
  bool Done() {
    Space();
    return i_ == s_.size();
  }
  bool Digits() {
    size_t start = i_;
    while (Peek() >= '0' && Peek() <= '9') i_++;
    return i_ > start;
  }

  /** An object's members into *out (null: only checked). */
  bool Object(FlatObject* out, int depth) {
    if (depth > kMaxDepth || !Eat('{')) return false;
    Space();
    if (Eat('}')) return true;
    for (;;) {
      std::string key;
      JsonMember value;
      Space();
      if (!String(&key)) return false;
      Space();
      if (!Eat(':')) return false;
      if (!Value(&value, depth + 1)) return false;
      if (out != nullptr) (*out)[key] = value;
      Space();
      if (Eat('}')) return true;
      if (!Eat(',')) return false;
    }
  }

  bool Array(int depth) {
    if (depth > kMaxDepth || !Eat('[')) return false;
    Space();
    if (Eat(']')) return true;
    for (;;) {
      JsonMember ignored;
      if (!Value(&ignored, depth + 1)) return false;
      Space();
      if (Eat(']')) return true;
      if (!Eat(',')) return false;
    }
  }

  bool Value(JsonMember* out, int depth) {
    Space();
    out->text.clear();
    char c = Peek();
    if (c == '"') {
      out->kind = JsonMember::kString;
      return String(&out->text);
    }
    if (c == '{' || c == '[') {
      out->kind = JsonMember::kNested;
      return c == '{' ? Object(nullptr, depth) : Array(depth);
    }
    size_t start = i_;
    if (s_.compare(i_, 4, "true") == 0 || s_.compare(i_, 4, "null") == 0) {
      i_ += 4;
      out->kind = c == 'n' ? JsonMember::kNull : JsonMember::kBoolean;
    } else if (s_.compare(i_, 5, "false") == 0) {
      i_ += 5;
      out->kind = JsonMember::kBoolean;
    } else {
      out->kind = JsonMember::kNumber;
      Eat('-');
      if (!Eat('0') && !Digits()) return false;
      if (Eat('.') && !Digits()) return false;
      if (Eat('e') || Eat('E')) {
        if (!Eat('+')) Eat('-');
        if (!Digits()) return false;
      }
    }
    out->text = s_.substr(start, i_ - start);
    return true;
  }

  bool Hex4(unsigned* cp) {
    if (i_ + 4 > s_.size()) return false;
    unsigned value = 0;
    for (int k = 0; k < 4; k++) {
      char h = s_[i_ + k];
      int digit = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
      if (digit < 0) return false;
      value = value * 16 + static_cast<unsigned>(digit);
    }
    *cp = value;
    i_ += 4;
    return true;
  }

  /** A string literal, decoded into *out. */
  bool String(std::string* out) {
    if (!Eat('"')) return false;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (static_cast<unsigned char>(c) < 0x20) return false;  // raw control characters are not JSON
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (i_ >= s_.size()) return false;
      char e = s_[i_++];
      switch (e) {
        case 'n': *out += '\n'; break;
        case 'r': *out += '\r'; break;
        case 't': *out += '\t'; break;
        case 'b': *out += '\b'; break;
        case 'f': *out += '\f'; break;
        case '"': case '\\': case '/': *out += e; break;
        case 'u': {
          unsigned cp;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF && s_.compare(i_, 2, "\\u") == 0) {
            size_t at = i_;
            i_ += 2;
            unsigned low;
            if (Hex4(&low) && low >= 0xDC00 && low <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else {
              i_ = at;  // not a pair: the next escape is read on its own
            }
          }
          if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // a lone surrogate has no UTF-8
          AppendUtf8(*out, cp);
          break;
        }
        default: return false;
      }
    }
    return Eat('"');
  }

  const std::string& s_;
  size_t i_ = 0;
};

}  // namespace

JsonShape ParseFlatObject(const std::string& json, FlatObject* out) {
  return Reader(json).Top(out);
}

std::string MemberText(const FlatObject& object, const char* name, JsonMember::Kind kind) {
  auto found = object.find(name);
  return found != object.end() && found->second.kind == kind ? found->second.text : std::string();
}

}  // namespace runner
