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

class Reader {
 public:
  explicit Reader(const std::string& s) : s_(s) {}

  bool Object(std::map<std::string, std::string>& out) {
    Space();
    if (!Eat('{')) return false;
    Space();
    if (Eat('}')) return Done();
    for (;;) {
      std::string key, value;
      Space();
      if (!String(&key)) return false;
      Space();
      if (!Eat(':')) return false;
      Space();
      if (Peek() == '"') {
        if (!String(&value)) return false;
        out[key] = value;
      } else if (Peek() == '{' || Peek() == '[') {
        if (!Skip()) return false;
      } else {
        if (!Token(&value)) return false;
        out[key] = value;
      }
      Space();
      if (Eat('}')) return Done();
      if (!Eat(',')) return false;
    }
  }

 private:
  char Peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  bool Eat(char c) {
    if (Peek() != c) return false;
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

  bool Hex4(unsigned* cp) {
    if (i_ + 4 > s_.size()) return false;
    char digits[5] = {s_[i_], s_[i_ + 1], s_[i_ + 2], s_[i_ + 3], '\0'};
    char* end;
    *cp = static_cast<unsigned>(std::strtoul(digits, &end, 16));
    if (end != digits + 4) return false;
    i_ += 4;
    return true;
  }

  /** A string literal, decoded into *out (or only skipped when out is null). */
  bool String(std::string* out) {
    std::string ignored;
    std::string& value = out != nullptr ? *out : ignored;
    if (!Eat('"')) return false;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c != '\\') {
        value += c;
        continue;
      }
      if (i_ >= s_.size()) return false;
      char e = s_[i_++];
      switch (e) {
        case 'n': value += '\n'; break;
        case 'r': value += '\r'; break;
        case 't': value += '\t'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
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
          AppendUtf8(value, cp);
          break;
        }
        default: value += e;  // \" \\ \/
      }
    }
    return Eat('"');
  }

  /** A number, true, false or null: its text. */
  bool Token(std::string* out) {
    size_t start = i_;
    while (i_ < s_.size() && s_[i_] != ',' && s_[i_] != '}' && s_[i_] != ']' && s_[i_] != ' ' && s_[i_] != '\n') i_++;
    *out = s_.substr(start, i_ - start);
    return !out->empty();
  }

  /** Any value, not kept. */
  bool Skip() {
    Space();
    if (Peek() == '"') return String(nullptr);
    if (Peek() != '{' && Peek() != '[') {
      std::string token;
      return Token(&token);
    }
    char close = Peek() == '{' ? '}' : ']';
    i_++;
    Space();
    if (Eat(close)) return true;
    for (;;) {
      if (close == '}') {
        Space();
        if (!String(nullptr)) return false;
        Space();
        if (!Eat(':')) return false;
      }
      if (!Skip()) return false;
      Space();
      if (Eat(close)) return true;
      if (!Eat(',')) return false;
    }
  }

  const std::string& s_;
  size_t i_ = 0;
};

}  // namespace

bool ParseFlatObject(const std::string& json, std::map<std::string, std::string>& out) {
  return Reader(json).Object(out);
}

}  // namespace runner
